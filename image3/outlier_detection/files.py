"""Outlier detection's work files: the single images, their median (computed here, in row sections
of bounded memory) and the masks of flagged pixels. astropy.io.fits and numpy alone: the median job
and the crf job need nothing else of outlier detection."""

from dataclasses import dataclass

import numpy as np
from astropy.io import fits

__all__ = [
    "SECTION_MB",
    "SingleImage",
    "grid_shape",
    "median_image",
    "median_sections",
    "read_mask",
    "read_median",
    "write_mask",
    "write_median",
    "write_median_sections",
    "write_single",
]


@dataclass
class SingleImage:
    """One exposure drizzled alone: SCI (MJy/sr) and WHT on the part of the product grid it covers.

    ``origin`` is the (x0, y0) of the cut-out's first pixel in the grid (0-based), ``grid_shape``
    the grid's (ny, nx); outside the cut-out the exposure has no data. ``subtracted_sky`` is the
    sky level (MJy/sr) the exposure's SCI had already subtracted; the rest of its sky is still in
    (the median takes it off, see :func:`median_image`).
    """

    sci: np.ndarray
    wht: np.ndarray
    origin: tuple = (0, 0)
    grid_shape: tuple = ()
    subtracted_sky: float = 0.0

    def __post_init__(self):
        if not self.grid_shape:
            self.grid_shape = self.sci.shape


def write_single(path, single: SingleImage):
    """A work file with SCI and WHT image extensions (uncompressed, so rows can be read lazily) and
    the cut-out's place in the grid (CUTX0, CUTY0, GRIDNX, GRIDNY in the SCI header), and the sky
    level already subtracted (SKYDONE, MJy/sr)."""
    header = fits.Header()
    header["CUTX0"], header["CUTY0"] = (int(v) for v in single.origin)
    header["GRIDNY"], header["GRIDNX"] = (int(v) for v in single.grid_shape)
    header["SKYDONE"] = float(single.subtracted_sky)
    hdus = [
        fits.PrimaryHDU(),
        fits.ImageHDU(single.sci, header=header, name="SCI"),
        fits.ImageHDU(single.wht, name="WHT"),
    ]
    fits.HDUList(hdus).writeto(path)


def _typical_weight(wht_section, shape, maskpt):
    """maskpt x the median of the positive weights on 64 rows spread over the cut-out."""
    rows = np.linspace(0, shape[0] - 1, min(64, shape[0])).astype(int)
    sample = np.concatenate([wht_section[r : r + 1].ravel() for r in rows])
    positive = sample[sample > 0]
    return maskpt * (np.median(positive) if positive.size else np.inf)


SECTION_MB = 64.0
"""Largest stack of one row section (MB, float32, with its sorting's temporaries): larger sections
gain nothing (the median is sorted per pixel), and the job's memory stays flat as exposures add up."""


def median_image(single_paths, maskpt=0.7, max_memory_mb=1000.0, *, sky_levels=None, section_mb=SECTION_MB):
    """The whole median and count (see :func:`median_sections`) as two arrays on the grid."""
    ny, nx = grid_shape(single_paths[0])
    median = np.full((ny, nx), np.nan, np.float32)
    count = np.zeros((ny, nx), np.uint8)
    for r0, median_rows, count_rows in median_sections(
        single_paths, maskpt, max_memory_mb, sky_levels=sky_levels, section_mb=section_mb
    ):
        median[r0 : r0 + len(median_rows)] = median_rows
        count[r0 : r0 + len(count_rows)] = count_rows
    return median, count


def grid_shape(single_path):
    """The product grid's (ny, nx) a single image (:func:`write_single`) is a cut-out of."""
    header = fits.getheader(single_path, "SCI")
    return header["GRIDNY"], header["GRIDNX"]


def median_sections(
    single_paths, maskpt=0.7, max_memory_mb=1000.0, *, sky_levels=None, section_mb=SECTION_MB
):
    """Median of the single images, ignoring pixels with weight < maskpt x the image's typical one,
    by row sections: yields (first row, median rows, count rows) in row order over the whole grid.

    ``sky_levels``: each single's sky level (MJy/sr, skymatch's for its exposure), of which what
    the single still holds (the level less its SKYDONE) is subtracted first; None: nothing is.
    Where exactly two images are valid, the lower value is taken instead (see below).
    The typical weight is the median of an image's positive weights. A section holds as many rows
    as keep its stack (the rows of the singles, cut-outs, see :class:`SingleImage`, that overlap
    it) within ``section_mb`` and ``max_memory_mb`` less the interpreter's 250 MB
    (bench/median_memory.py), so memory depends on how many singles overlap, not on how many
    there are. Median float32 with NaN where nothing is valid, count uint8 of valid images.
    """
    # Rows are read through ``section`` (no memory map), so only the current section is resident.
    hduls = [fits.open(p, memmap=False, lazy_load_hdus=True) for p in single_paths]
    try:
        headers = [h["SCI"].header for h in hduls]
        ny, nx = headers[0]["GRIDNY"], headers[0]["GRIDNX"]
        boxes = [(hd["CUTX0"], hd["CUTY0"], hd["NAXIS1"], hd["NAXIS2"]) for hd in headers]
        skies = [
            np.float32(level - hd.get("SKYDONE", 0.0))
            for level, hd in zip(sky_levels or [0.0] * len(headers), headers, strict=True)
        ]
        limits = [
            _typical_weight(h["WHT"].section, (b[3], b[2]), maskpt) for h, b in zip(hduls, boxes, strict=True)
        ]
        budget_mb = min(section_mb, max(max_memory_mb - 250.0, 25.0))
        for r0, r1 in _row_sections(boxes, ny, nx, budget_mb):
            overlapping = [k for k, (_, y0, _, h) in enumerate(boxes) if y0 < r1 and y0 + h > r0]
            stack = np.full((max(len(overlapping), 1), r1 - r0, nx), np.nan, np.float32)
            for slot, k in enumerate(overlapping):
                x0, y0, w, h = boxes[k]
                a, b = max(r0, y0), min(r1, y0 + h)
                sci = np.asarray(hduls[k]["SCI"].section[a - y0 : b - y0])
                wht = np.asarray(hduls[k]["WHT"].section[a - y0 : b - y0])
                stack[slot, a - r0 : b - r0, x0 : x0 + w] = np.where(wht >= limits[k], sci - skies[k], np.nan)
            count = np.isfinite(stack).sum(axis=0).astype(np.uint8)
            yield r0, _median_of_valid(stack, count), count
    finally:
        for h in hduls:
            h.close()


def _row_sections(boxes, ny, nx, budget_mb):
    """(first, end) rows of consecutive sections whose stacks stay within ``budget_mb``: a section's
    stack is float32, as deep as the cut-outs ``boxes`` (x0, y0, width, height) overlapping any of
    its rows (at least one), and takes about twice its size with the sort's temporaries."""
    starts = np.sort([y0 for _, y0, _, _ in boxes])
    ends = np.sort([y0 + h for _, y0, _, h in boxes])
    sections, r0 = [], 0
    for r in range(ny):
        depth = np.searchsorted(starts, r, "right") - np.searchsorted(ends, r0, "right")
        if r > r0 and max(depth, 1) * (r - r0 + 1) * nx * 8 / 1e6 > budget_mb:
            sections.append((r0, r))
            r0 = r
    return [*sections, (r0, ny)]


def _median_of_valid(stack, count):
    """Median over axis 0 of the finite values of ``stack`` (``count`` of them per pixel), as
    np.nanmedian gives it, NaN where there are none; where exactly two are valid, the lower.

    Where two images overlap their median is their mean, half of any cosmic ray; the lower of the
    two (official nhigh=1) is free of it. The stack is sorted in place (NaN sort last), so no copy
    of it is made.
    """
    stack.sort(axis=0)
    lower = np.where(count == 2, 0, (count.astype(np.int64) - 1) // 2)
    upper = np.where(count == 2, 0, count // 2)
    a = np.take_along_axis(stack, np.maximum(lower, 0)[None], axis=0)[0]
    b = np.take_along_axis(stack, upper[None], axis=0)[0]
    return np.where(count > 0, (a + b) / np.float32(2), np.float32(np.nan))


def write_median(path, median, count):
    """The median work file: MEDIAN (float32, MJy/sr, NaN where nothing is valid) and COUNT (uint8)."""
    write_median_sections(path, median.shape, [(0, median, count)])


def write_median_sections(path, shape, sections):
    """The median work file of :func:`write_median`, written as its row sections come (e.g. from
    :func:`median_sections`: (first row, median rows, count rows), together covering ``shape``),
    so that the whole median is never in memory."""
    ny, nx = shape
    headers = [
        fits.PrimaryHDU().header,
        _image_header("MEDIAN", np.float32, shape),
        _image_header("COUNT", np.uint8, shape),
    ]
    blocks = [header.tostring().encode("ascii") for header in headers]
    median_at = len(blocks[0]) + len(blocks[1])
    count_at = median_at + _padded(ny * nx * 4) + len(blocks[2])
    with open(path, "wb") as out:
        out.write(blocks[0] + blocks[1])
        out.seek(median_at + _padded(ny * nx * 4))
        out.write(blocks[2])
        for r0, median_rows, count_rows in sections:
            out.seek(median_at + r0 * nx * 4)
            out.write(np.asarray(median_rows, ">f4").tobytes())
            out.seek(count_at + r0 * nx)
            out.write(np.asarray(count_rows, np.uint8).tobytes())
        out.truncate(count_at + _padded(ny * nx))  # FITS data end with zeros to a whole block


def _image_header(name, dtype, shape):
    """The header of an image extension ``name`` of ``dtype`` and ``shape`` (ny, nx)."""
    header = fits.ImageHDU(np.zeros((1, 1), dtype), name=name).header
    header["NAXIS2"], header["NAXIS1"] = shape
    return header


def _padded(size):
    """``size`` bytes rounded up to whole FITS blocks (2880 bytes)."""
    return -(-size // 2880) * 2880


def read_median(path, window=None):
    """(median, count) from a file of :func:`write_median`; ``window``: (rows, columns) slices of
    the grid to read instead of all of it (only those rows are read)."""
    with fits.open(path, memmap=False, lazy_load_hdus=True) as hdul:
        if window is None:
            return hdul["MEDIAN"].data, hdul["COUNT"].data
        rows, columns = window  # whole rows are one read each; a column range is a read per row
        return tuple(np.asarray(hdul[name].section[rows])[:, columns] for name in ("MEDIAN", "COUNT"))


def write_mask(path, mask, **header):
    """An outlier mask as a uint8 FITS image, with summary keywords in its header (uncompressed:
    a byte per pixel, and the jobs reading it do not decompress)."""
    hdu = fits.ImageHDU(mask.astype(np.uint8), name="OUTLIERS")
    for key, value in header.items():
        hdu.header[key[:8].upper()] = value
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(path)


def read_mask(path):
    """(boolean mask, header) of a file written by :func:`write_mask`."""
    with fits.open(path) as hdul:
        return hdul["OUTLIERS"].data.astype(bool), dict(hdul["OUTLIERS"].header)
