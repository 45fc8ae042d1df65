"""Outlier detection's work files: the single images, their median (computed here, in row sections
of bounded memory) and the masks of flagged pixels. astropy.io.fits and numpy alone: the median job
and the crf job need nothing else of outlier detection."""

from dataclasses import dataclass

import numpy as np
from astropy.io import fits

__all__ = [
    "SingleImage",
    "median_image",
    "read_mask",
    "read_median",
    "write_mask",
    "write_median",
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


def median_image(single_paths, maskpt=0.7, max_memory_mb=1000.0, *, sky_levels=None):
    """Median of the single images, ignoring pixels with weight < maskpt x the image's typical one.

    ``sky_levels``: each single's sky level (MJy/sr, skymatch's for its exposure), of which what
    the single still holds (the level less its SKYDONE) is subtracted first; None: nothing is.
    Where exactly two images are valid, the lower value is taken instead (see below).
    The typical weight is the median of an image's positive weights. Rows are processed in sections
    sized so that the stacked sections take at most ``max_memory_mb`` whatever the number of
    images; a section reads only the rows of the singles (cut-outs, see :class:`SingleImage`) that
    it overlaps. Returns (median float32 with NaN where nothing is valid, count uint8 of valid
    images) on the grid.
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
        n = len(hduls)
        # A section's float32 stack is sorted in place; with the rows read and the section's results
        # it takes about twice the stack; the interpreter and libraries about 250 MB
        # (bench/median_memory.py).
        budget_mb = max(max_memory_mb - 250.0, 25.0)
        rows = max(1, int(budget_mb * 1e6 / (n * nx * 4 * 2)))
        median = np.full((ny, nx), np.nan, np.float32)
        count = np.zeros((ny, nx), np.uint8)
        for r0 in range(0, ny, rows):
            r1 = min(ny, r0 + rows)
            overlapping = [k for k, (_, y0, _, h) in enumerate(boxes) if y0 < r1 and y0 + h > r0]
            stack = np.full((max(len(overlapping), 1), r1 - r0, nx), np.nan, np.float32)
            for slot, k in enumerate(overlapping):
                x0, y0, w, h = boxes[k]
                a, b = max(r0, y0), min(r1, y0 + h)
                sci = np.asarray(hduls[k]["SCI"].section[a - y0 : b - y0])
                wht = np.asarray(hduls[k]["WHT"].section[a - y0 : b - y0])
                stack[slot, a - r0 : b - r0, x0 : x0 + w] = np.where(wht >= limits[k], sci - skies[k], np.nan)
            count[r0:r1] = np.isfinite(stack).sum(axis=0)
            median[r0:r1] = _median_of_valid(stack, count[r0:r1])
        return median, count
    finally:
        for h in hduls:
            h.close()


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
    hdus = [fits.PrimaryHDU(), fits.ImageHDU(median, name="MEDIAN"), fits.ImageHDU(count, name="COUNT")]
    fits.HDUList(hdus).writeto(path)


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
