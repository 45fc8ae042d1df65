"""Each exposure reduced to *cells* of a common coarse sky grid, the only thing the levels are
computed from (image3.skymatch.levels), so memory does not grow with the number of exposures.

Conventions: images and levels in MJy/sr; detector pixels 0-based; the sky grid is a TAN grid whose
cells are ``cell_size`` detector pixels on a side (0-based cell centres at integers).

- For every cell an exposure touches: the number of its pixels that land there, the sum and number
  of usable pixels (good DQ, finite, within ``lower``/``upper``, not a single-pixel outlier such as
  a cosmic ray) and the number of pixels in detected sources (a smoothed-image segmentation,
  dilated).
- A cell in which *any* exposure found a source is dropped for every exposure (the levels' job):
  the cells compared hold the same patch of sky in every exposure, so faint light that no
  detection caught is present in both members of a pair and cancels in their difference.
- Real skies (#28): with ``mask_grow``, the cells within that many radii of an extended source (a
  large galaxy's outskirts, a saturated star's halo, its NaN core counted in its size) are marked
  so the local levels leave them out (light fixed on the sky is the same in both members of a
  pair, on the aligned WCS, so the matched differences keep them). With ``destripe``, 1/f row
  offsets (per quarter of the columns) measured on the masked sky are taken off each exposure
  first; with ``sky_plane``, its tilt (a plane fitted to its masked sky, 0 at the detector's
  centre). The overlaps cannot tell a gradient fixed on the detector: with dithers that are
  shifts, one common to every exposure equals level offsets proportional to the shifts (it biases
  matched levels by the gradient times the shift). Both take the unmasked sky as flat, so both are
  off by default.
"""

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ..errors import InputError
from ..io.dq import good_pixels
from ..resample.grid import make_grid
from ..utils.morphology import box_dilation, connected_above, cross_dilation
from ..wcs.geometry import Geometry
from .settings import SkySettings

__all__ = ["exposure_cells", "ExposureCells", "row_offsets", "sky_grid", "sky_plane"]


def sky_grid(exposures, cell_size):
    """The coarse TAN grid of cells over the union of the exposures' footprints.

    ``exposures``: :class:`~image3.wcs.geometry.Geometry` objects or pairs of (gwcs, shape); a cell is
    ``cell_size`` pixels of the first exposure.
    """
    exposures = [e if isinstance(e, Geometry) else Geometry.from_wcs(*e) for e in exposures]
    return make_grid(exposures, pixel_scale=cell_size * exposures[0].pixel_scale)


@dataclass
class ExposureCells:
    """One exposure reduced to the sky cells it touches (flat indices ``cells``, sorted).

    ``total``: pixels landing in the cell; ``count``/``sum``: usable pixels and their sum (MJy/sr);
    ``source``: pixels in detected sources; ``outskirts``: pixels in extended sources' outskirts
    (``mask_grow``: left out of local levels only, see :func:`compute_sky`; None: none).
    ``level0`` is a level already subtracted from the data.
    """

    name: str
    group: str
    cells: np.ndarray
    total: np.ndarray
    count: np.ndarray
    sum: np.ndarray
    source: np.ndarray
    level0: float = 0.0
    outskirts: np.ndarray | None = None


def _source_mask(data, usable, s: SkySettings):
    """Pixels of detected sources (dilated by ``s.mask_dilate``) and single-pixel outliers.

    The image minus a rough sky (median of usable pixels) is smoothed with a Gaussian of FWHM
    ``s.detect_fwhm`` pixels, normalised by the smoothed usable-pixel weight so bad pixels do not
    pull it down; connected regions of at least ``s.detect_npixels`` above ``s.detect_threshold``
    robust standard deviations are sources. Pixels beyond ``s.usigma`` (``s.lsigma``) standard
    deviations above (below) the rough sky are outliers (cosmic rays missed by the DQ flags).
    ``outskirts``: pixels beyond the sources within ``s.mask_grow`` times each one's radius (see
    :func:`_grow_extended`). Returns ``(sources, outliers, outskirts)`` boolean maps.
    """
    sample = data[usable][:: max(1, int(usable.sum() // 200_000))]
    sky = np.median(sample)
    std = 1.4826 * np.median(np.abs(sample - sky))
    resid = np.where(usable, data - sky, 0.0).astype(np.float32)
    high = usable & (resid > s.usigma * std)
    outliers = cross_dilation(high) | (usable & (resid < -s.lsigma * std))
    resid[outliers] = 0.0
    weight = (usable & ~outliers).astype(np.float32)
    sigma = s.detect_fwhm / 2.3548
    num = ndimage.gaussian_filter(resid, sigma, mode="constant")
    den = ndimage.gaussian_filter(weight, sigma, mode="constant")
    with np.errstate(invalid="ignore", divide="ignore"):
        smooth = np.where(den > 0.2, num / den, 0.0)
    inner = den > 0.2
    values = smooth[inner][:: max(1, int(inner.sum() // 200_000))]
    smooth_std = 1.4826 * np.median(np.abs(values - np.median(values)))
    sources = connected_above(smooth, s.detect_threshold * smooth_std, s.detect_npixels)
    outskirts = _grow_extended(sources | ~usable, sources, s.mask_grow)
    if s.mask_dilate > 0:
        sources = box_dilation(sources, s.mask_dilate)
    return sources, outliers, outskirts & ~sources


def _grow_extended(blobs, sources, factor):
    """Pixels within ``factor`` times its radius of each source (``blobs`` the sources with the
    unusable pixels: a saturated core counts in its star's size), the radius ``sqrt(area / pi)``
    of the source's pixels. A large source's faint outskirts (a big galaxy's profile, a saturated
    star's halo and spikes) stay above the sky far beyond the detection isophote, about in
    proportion to its size. Each source whose growth exceeds a pixel is done in a cutout."""
    out = np.zeros(blobs.shape, bool)
    if factor <= 0:
        return out
    labels, count = ndimage.label(blobs, structure=np.ones((3, 3), bool))
    if count == 0:
        return out
    has_source = np.bincount(labels[sources], minlength=count + 1) > 0
    grow = factor * np.sqrt(np.bincount(labels.ravel(), minlength=count + 1) / np.pi)
    ny, nx = blobs.shape
    for k, box in enumerate(ndimage.find_objects(labels), 1):
        if box is None or not has_source[k] or grow[k] < 1.0:
            continue
        g = int(np.ceil(grow[k]))
        ys = slice(max(box[0].start - g, 0), min(box[0].stop + g, ny))
        xs = slice(max(box[1].start - g, 0), min(box[1].stop + g, nx))
        out[ys, xs] |= ndimage.distance_transform_edt(labels[ys, xs] != k) <= grow[k]
    return out


def row_offsets(data, sky, bands=4, min_pixels=16):
    """1/f striping: each row's offset in each of ``bands`` bands of columns (NIRCam's four
    readout amplifiers of a full frame), the median of the row's sky pixels (``sky``, a boolean
    map) less the band's mean of those medians, so removing them keeps each band's mean level.
    Rows with fewer than ``min_pixels`` sky pixels in a band get no offset. Returns the offsets
    as an image (MJy/sr). It takes the sky as flat along rows: light that the mask leaves and
    that varies along the columns (a large galaxy's outskirts) is taken for striping."""
    ny, nx = data.shape
    edges = np.linspace(0, nx, bands + 1).round().astype(int)
    out = np.zeros(data.shape, np.float32)
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        enough = sky[:, lo:hi].sum(axis=1) >= min_pixels
        if not enough.any():
            continue
        band = np.where(sky[enough, lo:hi], data[enough, lo:hi], np.nan)
        medians = np.nanmedian(band, axis=1)
        out[enough, lo:hi] = (medians - medians.mean())[:, None]
    return out


def sky_plane(data, sky, block=32, nclip=3):
    """The sky's tilt across the detector (MJy/sr image, 0 at the detector's centre): a plane
    ``b (x - xc) + c (y - yc)`` fitted to the medians of the sky pixels (``sky``) in blocks of
    ``block`` pixels (those at least a quarter sky), clipped at 3 standard deviations ``nclip``
    times. It takes the unmasked sky as flat: a large source's outskirts tilt it too."""
    ny, nx = data.shape
    by, bx = ny // block, nx // block
    if by < 2 or bx < 2:
        return np.zeros(data.shape, np.float32)
    crop = np.s_[: by * block, : bx * block]
    cube = np.where(sky[crop], data[crop], np.nan).reshape(by, block, bx, block).transpose(0, 2, 1, 3)
    cube = cube.reshape(by, bx, block * block)
    enough = np.isfinite(cube).sum(axis=2) >= block * block // 4
    if enough.sum() < 6:
        return np.zeros(data.shape, np.float32)
    values = np.nanmedian(cube[enough], axis=1)
    yc, xc = (ny - 1) / 2, (nx - 1) / 2
    iy, ix = np.nonzero(enough)
    design = np.column_stack(
        [np.ones(values.size), (ix + 0.5) * block - 0.5 - xc, (iy + 0.5) * block - 0.5 - yc]
    )
    keep = np.ones(values.size, bool)
    for _ in range(nclip + 1):
        coef = np.linalg.lstsq(design[keep], values[keep], rcond=None)[0]
        resid = values - design @ coef
        new = np.abs(resid) <= 3 * 1.4826 * np.median(np.abs(resid[keep])) + 1e-12
        if new.sum() < 6 or np.array_equal(new, keep):
            break
        keep = new
    yy, xx = np.ogrid[:ny, :nx]
    return (coef[1] * (xx - xc) + coef[2] * (yy - yc)).astype(np.float32)


def _flattened(data, sky, s: SkySettings):
    """``data`` less its tilt (``s.sky_plane``) and then its 1/f row offsets (``s.destripe``),
    both measured on the sky pixels ``sky``."""
    if s.sky_plane:
        data = data - sky_plane(data, sky)
    if s.destripe:
        data = data - row_offsets(data, sky)
    return data


def exposure_cells(name, group, data, dq, geometry, grid, s: SkySettings, level0=0.0) -> ExposureCells:
    """Reduce one exposure to the cells of ``grid`` (see :class:`ExposureCells`).

    ``data`` in MJy/sr; ``dq`` the DQ array (``s.dqbits`` are the good flags); ``geometry`` the
    exposure's current WCS sampled (:class:`~image3.wcs.geometry.Geometry`), or the gwcs itself
    (sampled here every 16 pixels).
    """
    if not isinstance(geometry, Geometry):
        geometry = Geometry.from_wcs(geometry, np.shape(data))
    data = np.asarray(data, dtype=np.float32)
    usable = good_pixels(dq, s.dqbits, "skymatch.dqbits") & np.isfinite(data)
    if s.lower is not None:
        usable &= data >= s.lower
    if s.upper is not None:
        usable &= data <= s.upper
    if usable.sum() < 100:
        raise InputError(f"exposure {name}: fewer than 100 usable pixels (skymatch.dqbits/lower/upper)")
    sources, outliers, outskirts = _source_mask(data, usable, s)
    if s.destripe or s.sky_plane:
        raw = data
        data = _flattened(raw, usable & ~(outliers | sources | outskirts), s)
        sources, outliers, outskirts = _source_mask(data, usable, s)  # stripes are no sources now
        data = _flattened(raw, usable & ~(outliers | sources | outskirts), s)
    usable &= ~outliers & ~sources
    xy = geometry.pixel_map(grid.world_to_pixel)
    ny, nx = grid.shape
    ix = np.clip(np.floor(xy[..., 0] + 0.5), 0, nx - 1).astype(np.int64)
    iy = np.clip(np.floor(xy[..., 1] + 0.5), 0, ny - 1).astype(np.int64)
    del xy
    # Count in the exposure's own bounding box of cells (bounded by its size, not the grid's).
    x0, y0, width = ix.min(), iy.min(), ix.max() - ix.min() + 1
    box = (iy - y0) * width + (ix - x0)
    del ix, iy
    size = int(box.max()) + 1
    total = np.bincount(box.ravel(), minlength=size)
    count = np.bincount(box[usable], minlength=size)
    sums = np.bincount(box[usable], weights=data[usable].astype(np.float64), minlength=size)
    source = np.bincount(box[sources], minlength=size)
    outer = np.bincount(box[outskirts], minlength=size)
    touched = np.flatnonzero(total)
    cells = (touched // width + y0) * nx + (touched % width + x0)
    total, count, sums, source = total[touched], count[touched], sums[touched], source[touched]
    return ExposureCells(name, group, cells, total, count, sums, source, float(level0), outer[touched])
