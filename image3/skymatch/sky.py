"""Sky levels of a product's exposures: per exposure (``local``), common (``global``), matched in the
overlaps (``match``, ``global+match``) or given by the user (``user``), as the official skymatch step.

Conventions: images and levels in MJy/sr; detector pixels 0-based; the sky grid is a TAN grid whose
cells are ``cell_size`` detector pixels on a side (0-based cell centres at integers).

How it works (our own algorithm, not the official code):

- Each exposure is reduced to *cells* of a common coarse sky grid: for every cell the exposure
  touches, the number of its pixels that land there, the sum and number of usable pixels (good DQ,
  finite, within ``lower``/``upper``, not a single-pixel outlier such as a cosmic ray) and the
  number of pixels in detected sources (a smoothed-image segmentation, dilated). Only these small
  arrays are kept, so memory does not grow with the number of exposures.
- A cell in which *any* exposure found a source is dropped for every exposure: the cells compared
  hold the same patch of sky in every exposure, so faint light that no detection caught is present
  in both members of a pair and cancels in their difference.
- ``match`` compares two exposures (or exposure groups) cell by cell in their common cells; the
  statistic ``skystat`` of the per-cell differences is the pair's level difference. One weighted
  least-squares system over all pairs gives the levels; each connected set of overlapping exposures
  is solved on its own (its lowest level is 0 with ``match_down``), and a warning says so when there
  is more than one.
- ``local`` takes ``skystat`` of the cell means of an exposure (cells averaging 64 pixels make the
  Poisson skew of single pixels negligible), and a group of several files (detectors of one
  exposure) the lowest of its files' levels, as the official step; ``global`` the smallest of the
  local levels; ``global+match`` the matched levels plus the smallest local level after matching,
  per connected set.
- Exposure groups (``group_exposures``): ``true`` gives the detectors of one exposure one level
  (the official step), ``false`` each detector its own; ``auto`` fits each detector's level first
  and keeps one level per exposure only where its detectors agree within their noise. The test is
  a chi-square of the detectors' level differences against their covariance from the per-detector
  least-squares fit (pair errors from the scatter of the cell differences, scaled up by the fit's
  reduced chi-square when above 1), on the differences that the overlaps determine; an exposure
  whose detectors differ at ``group_significance`` gets their levels. Detectors that no overlap
  links (NIRCam's two modules) are tested together over all exposures: their exposures' shared
  levels must give one offset between the two sets of detectors; where they do not, those
  exposures are split and the sets linked by their local levels (``match``). A detector set that
  cannot be tested keeps one level per exposure.
- Real skies (#28): with ``mask_grow``, the cells within that many radii of an extended source
  (a large galaxy's outskirts, a saturated star's halo, its NaN core counted in its size) are left
  out of the local levels, not of the matched differences (light fixed on the sky is the same in
  both members of a pair, on the aligned WCS). With ``destripe``, 1/f row offsets (per quarter of
  the columns) measured on the masked sky are taken off each exposure first; with ``sky_plane``,
  its tilt (a plane fitted to its masked sky, 0 at the detector's centre). The overlaps cannot
  tell a gradient fixed on the detector: with dithers that are shifts, one common to every
  exposure equals level offsets proportional to the shifts (it biases matched levels by the
  gradient times the shift). Both take the unmasked sky as flat, so both are off by default.

Statistics (``skystat``) are taken after ``nclip`` rounds of clipping at ``lsigma``/``usigma``
standard deviations about the median: ``mean``, ``median``, ``midpt`` (the median interpolated in a
histogram of bins ``binwidth`` standard deviations wide) and ``mode`` (the peak of that histogram
smoothed by a Gaussian of one standard deviation, found by mean shift). The official step's mode is
the highest bin refined by a three-bin parabola, which on a few thousand values scatters by several
bin widths; ours is about as steady as a median and still gives little weight to a tail of source
light.
"""

import dataclasses
import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from scipy import ndimage
from scipy.linalg import null_space
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.sparse.linalg import splu
from scipy.stats import chi2 as chi2_distribution

from ..errors import InputError
from ..io.atomic import atomic_path
from ..io.dq import excluded_exposure, good_pixels
from ..io.exposure_groups import group_id
from ..io.fits_read import read_lean
from ..resample.grid import make_grid
from ..wcs.geometry import Geometry
from .settings import SkySettings
from .suffix import name_root

__all__ = [
    "compute_sky",
    "connected_above",
    "exposure_cells",
    "ExposureCells",
    "GroupTest",
    "load_result",
    "measure_files",
    "Pair",
    "row_offsets",
    "save_result",
    "sky_grid",
    "sky_plane",
    "sky_statistic",
    "SkyResult",
    "Statistic",
    "user_sky",
]

log = logging.getLogger("image3")


# --- statistics ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Statistic:
    """A sky statistic of a set of values: ``value``, clipped standard deviation ``std`` and the
    number ``n`` of values kept (``value`` is NaN when nothing is left)."""

    value: float
    std: float
    n: int

    @property
    def error(self) -> float:
        """Standard error of ``value`` (as for a mean; a rough scale for the other statistics)."""
        return self.std / np.sqrt(self.n) if self.n > 1 else np.inf


def sky_statistic(values, s: SkySettings) -> Statistic:
    """``s.skystat`` of ``values`` after ``s.nclip`` rounds of clipping about the median."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return Statistic(np.nan, np.nan, 0)
    for _ in range(s.nclip):
        centre, std = np.median(v), v.std()
        kept = v[(v >= centre - s.lsigma * std) & (v <= centre + s.usigma * std)]
        if kept.size in (0, v.size):
            break
        v = kept
    std = float(v.std())
    if s.skystat == "mean":
        value = v.mean()
    elif s.skystat == "median":
        value = np.median(v)
    elif s.skystat == "midpt":
        value = _midpt(v, s.binwidth * std)
    else:
        value = _mode(v, s.binwidth * std)
    return Statistic(float(value), std, int(v.size))


def _histogram(v, width):
    nbins = int(np.clip(np.ceil((v.max() - v.min()) / width), 1, 100_000)) if width > 0 else 1
    counts, edges = np.histogram(v, bins=nbins)
    return counts, edges


def _midpt(v, width):
    """Median interpolated linearly in the cumulative histogram (IRAF's ``midpt``)."""
    if width <= 0:
        return float(np.median(v))
    counts, edges = _histogram(v, width)
    cumulative = np.concatenate([[0.0], np.cumsum(counts)]) / counts.sum()
    return float(np.interp(0.5, cumulative, edges))


def _mode(v, width, iterations=50):
    """Peak of the distribution smoothed by a Gaussian of one standard deviation: mean shift over
    the histogram (bins ``width`` wide), started at the median. The smoothing keeps it as steady
    as a median (on Gaussian noise) while values more than 3 standard deviations from the peak
    weigh almost nothing."""
    peak = float(np.median(v))
    std = v.std()
    if width <= 0 or std == 0:
        return peak
    counts, edges = _histogram(v, width)
    centres = 0.5 * (edges[1:] + edges[:-1])
    for _ in range(iterations):
        w = counts * np.exp(-0.5 * ((centres - peak) / std) ** 2)
        new = float(np.sum(w * centres) / np.sum(w))
        if abs(new - peak) < 1e-6 * std:
            return new
        peak = new
    return peak


# --- cells -----------------------------------------------------------------------------------------


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
    outliers = _cross_dilation(high) | (usable & (resid < -s.lsigma * std))
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
        sources = _box_dilation(sources, s.mask_dilate)
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


def connected_above(image, threshold, npixels):
    """Pixels of 8-connected regions of at least ``npixels`` pixels above ``threshold`` (what
    photutils' ``detect_sources`` segments, without importing photutils for a mask)."""
    labels, count = ndimage.label(image > threshold, structure=np.ones((3, 3), bool))
    if count == 0:
        return np.zeros(image.shape, bool)
    keep = np.bincount(labels.ravel()) >= npixels
    keep[0] = False
    return keep[labels]


def _cross_dilation(mask):
    """``mask`` grown by one pixel along rows and columns (``ndimage.binary_dilation``'s default)."""
    out = mask.copy()
    out[1:] |= mask[:-1]
    out[:-1] |= mask[1:]
    out[:, 1:] |= mask[:, :-1]
    out[:, :-1] |= mask[:, 1:]
    return out


def _box_dilation(mask, radius):
    """``mask`` grown by ``radius`` pixels in a square (a (2 radius + 1)^2 maximum filter): each
    axis in turn, by doubling shifts (log2 radius passes) instead of one per pixel."""
    for axis in (0, 1):
        grown, reach = mask.copy(), 0
        while reach < radius:
            step = min(reach + 1, radius - reach)
            shifted = np.zeros_like(grown)
            lo, hi = [slice(None)] * 2, [slice(None)] * 2
            lo[axis], hi[axis] = slice(step, None), slice(None, -step)
            shifted[tuple(lo)] = grown[tuple(hi)]
            shifted[tuple(hi)] |= grown[tuple(lo)]
            grown |= shifted
            reach += step
        mask = grown
    return mask


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


# --- levels ----------------------------------------------------------------------------------------


@dataclass
class Pair:
    """Level difference of two exposure groups in their common sky cells (MJy/sr).

    ``before`` is ``level(a) - level(b)`` as measured, ``error`` its standard error, ``n`` the number
    of cell differences used; ``after`` what is left of it once the chosen levels are removed.
    """

    a: str
    b: str
    before: float
    error: float
    n: int
    after: float = np.nan


@dataclass
class GroupTest:
    """``group_exposures: auto`` on one exposure read out by several detectors (``files``): whether
    they keep one level (``one_level``) and why (``reason``, in words).

    ``chi2`` with ``dof`` degrees of freedom and its probability ``p`` under one shared level test
    the differences of the detectors' fitted levels that the overlaps determine (NaN, 0 and NaN:
    none can be tested); ``spread`` is the largest such difference (MJy/sr; NaN: none).
    """

    exposure: str
    files: list
    one_level: bool
    chi2: float
    dof: int
    p: float
    spread: float
    reason: str


@dataclass
class SkyResult:
    """Levels per exposure (MJy/sr) and what they came from.

    ``groups``: exposure -> group; ``local``: group -> local :class:`Statistic`; ``components``:
    lists of groups connected by overlaps, or linked by their local levels where ``auto`` split
    the exposures that linked them (``match`` solves each on its own); ``pairs``: the overlap
    measurements; ``group_tests``: the :class:`GroupTest` of each exposure of several detectors
    (``group_exposures: auto``).
    """

    method: str
    levels: dict
    groups: dict
    local: dict = field(default_factory=dict)
    components: list = field(default_factory=list)
    pairs: list = field(default_factory=list)
    group_tests: list = field(default_factory=list)


def save_result(result: SkyResult, path):
    """Write ``result`` as JSON (what the QA figure shows), atomically."""
    tree = asdict(result)
    with atomic_path(path) as tmp:
        Path(tmp).write_text(json.dumps(tree, indent=1) + "\n")


def load_result(path) -> SkyResult:
    """A :class:`SkyResult` from a file of :func:`save_result`."""
    tree = json.loads(Path(path).read_text())
    tree["local"] = {group: Statistic(**s) for group, s in tree["local"].items()}
    tree["pairs"] = [Pair(**p) for p in tree["pairs"]]
    tree["group_tests"] = [GroupTest(**g) for g in tree["group_tests"]]
    return SkyResult(**tree)


def _usable_cells(exposures, cell_size, outskirts=False):
    """Per exposure: (cells, cell means) of cells that are well covered and hold no source in any
    exposure (with ``outskirts``, nor an extended source's outskirts)."""
    flags = [e.source + (e.outskirts if outskirts and e.outskirts is not None else 0) for e in exposures]
    flagged = np.unique(np.concatenate([e.cells[f > 0] for e, f in zip(exposures, flags, strict=True)]))
    out = []
    for e in exposures:
        ok = (e.total >= 0.5 * cell_size**2) & (e.count >= 0.5 * e.total) & ~np.isin(e.cells, flagged)
        out.append((e.cells[ok], e.sum[ok] / e.count[ok]))
    return out


def _pair_differences(exposures, usable, groups, s: SkySettings):
    """The measured level difference of every pair of groups that share enough usable cells."""
    members = {g: [k for k, e in enumerate(exposures) if e.group == g] for g in groups}
    span = [(c.min(), c.max()) if c.size else (0, -1) for c, _ in usable]
    pairs = []
    for i, ga in enumerate(groups):
        for gb in groups[i + 1 :]:
            diffs = [np.empty(0)]
            for a in members[ga]:
                for b in members[gb]:
                    if span[a][1] < span[b][0] or span[b][1] < span[a][0]:
                        continue  # disjoint ranges of cells: no overlap
                    (ca, ma), (cb, mb) = usable[a], usable[b]
                    _, ia, ib = np.intersect1d(ca, cb, assume_unique=True, return_indices=True)
                    diffs.append(ma[ia] - mb[ib])
            diffs = np.concatenate(diffs)
            if diffs.size < s.min_overlap_cells:
                continue
            stat = sky_statistic(diffs, s)
            if np.isfinite(stat.value) and stat.n >= s.min_overlap_cells:
                pairs.append(Pair(ga, gb, stat.value, max(stat.error, 1e-12), stat.n))
    return pairs


def _pair_system(groups, pairs):
    """The weighted pair differences as a sparse system: (design, rhs), one row per pair
    (``(level_a - level_b) / error = before / error``), one column per group."""
    index = {g: k for k, g in enumerate(groups)}
    weight = np.array([1.0 / p.error for p in pairs])
    rows = np.repeat(np.arange(len(pairs)), 2)
    cols = np.ravel([(index[p.a], index[p.b]) for p in pairs])
    design = coo_matrix(
        (np.ravel(np.column_stack([weight, -weight])), (rows, cols)), (len(pairs), len(groups))
    ).tocsr()
    return design, weight * np.array([p.before for p in pairs])


def _components(groups, pairs):
    """Component label of each group (sets linked by overlaps) and their number."""
    index = {g: k for k, g in enumerate(groups)}
    a, b = [index[p.a] for p in pairs], [index[p.b] for p in pairs]
    adjacency = coo_matrix((np.ones(len(pairs)), (a, b)), shape=(len(groups), len(groups)))
    ncomp, labels = connected_components(adjacency, directed=False)
    return labels, ncomp


class _GroundedNormal:
    """The normal matrix of the pair system, factorised per component with its first group's
    level held at 0 (the levels are defined up to one constant per component). Sparse: a survey's
    thousands of files cost their pairs, not their number squared."""

    def __init__(self, design, labels, ncomp):
        normal = (design.T @ design).tocsc()
        self.labels = labels
        self.ground = np.array([np.flatnonzero(labels == c)[0] for c in range(ncomp)])
        self.free = [np.flatnonzero(labels == c)[1:] for c in range(ncomp)]
        self.lu = [splu(normal[f][:, f].tocsc()) if f.size else None for f in self.free]

    def solve(self, rhs):
        """A solution of ``normal @ x = rhs`` (one per component, its ground level 0)."""
        x = np.zeros(self.labels.size)
        for f, lu in zip(self.free, self.lu, strict=True):
            if lu is not None:
                x[f] = lu.solve(rhs[f])
        return x

    def inverse(self, indices):
        """The ``indices`` x ``indices`` block of a generalised inverse of the normal matrix (the
        grounded one: zero on the ground levels and across components). Contrasts with no part
        along a component's constant level get the same variance from it as from the
        pseudo-inverse."""
        indices = np.asarray(indices)
        block = np.zeros((indices.size, indices.size))
        for c, (f, lu) in enumerate(zip(self.free, self.lu, strict=True)):
            inside = np.flatnonzero((self.labels[indices] == c) & (indices != self.ground[c]))
            if lu is None or not inside.size:
                continue
            position = np.searchsorted(f, indices[inside])
            unit = np.zeros((f.size, inside.size))
            unit[position, np.arange(inside.size)] = 1.0
            block[np.ix_(inside, inside)] = lu.solve(unit)[position]
        return block


def _least_squares(groups, pairs):
    """The weighted least-squares fit of the levels to the pair differences (sparse normal
    equations), once: (levels with mean 0 in each connected component, component labels, their
    number, the pair system's design and rhs, its grounded normal matrix; the last three None
    without pairs)."""
    labels, ncomp = _components(groups, pairs)
    if not pairs:
        return np.zeros(len(groups)), labels, ncomp, None, None, None
    design, rhs = _pair_system(groups, pairs)
    normal = _GroundedNormal(design, labels, ncomp)
    levels = normal.solve(design.T @ rhs)
    for c in range(ncomp):
        levels[labels == c] -= levels[labels == c].mean()
    return levels, labels, ncomp, design, rhs, normal


def _solve(groups, pairs):
    """Relative levels (mean 0 in each connected component) from the pair differences by one
    weighted least-squares fit; returns (levels, components)."""
    levels, labels, ncomp, *_ = _least_squares(groups, pairs)
    return levels, [[groups[k] for k in np.flatnonzero(labels == c)] for c in range(ncomp)]


def _free_fit(groups, pairs):
    """Levels of ``groups`` (each its own, as :func:`_solve`), their covariance (MJy/sr squared;
    a function of the indices whose block it returns, in a gauge where only differences within a
    component are meaningful) and each group's component label. The pair errors are scaled up by
    the fit's reduced chi-square where it exceeds 1 (the mode's error is above a mean's; cells
    share noise)."""
    levels, labels, ncomp, design, rhs, normal = _least_squares(groups, pairs)
    resid = design @ levels - rhs
    dof = len(pairs) - (len(groups) - ncomp)
    scale = max(1.0, float(resid @ resid) / dof) if dof > 0 else 1.0
    return levels, (lambda indices: scale * normal.inverse(indices)), labels


def _equal_levels_chi2(sets, levels, cov, labels):
    """Chi-square and degrees of freedom of the hypothesis that the levels of each set (lists of
    indices into ``levels``) are equal, on the differences that the overlaps determine (those
    with no part along any component's common level); (NaN, 0) when there is none."""
    used = np.unique(np.concatenate(sets))
    column = {k: c for c, k in enumerate(used)}
    rows = np.zeros((sum(len(m) - 1 for m in sets), used.size))
    start = 0
    for m in sets:  # rows: level(first member) - level(other member)
        rows[start : start + len(m) - 1, column[m[0]]] = 1.0
        rows[np.arange(start, start + len(m) - 1), [column[k] for k in m[1:]]] = -1.0
        start += len(m) - 1
    gauge = (labels[used][:, None] == np.unique(labels[used])).astype(float)
    basis = null_space((rows @ gauge).T)
    if basis.shape[1] == 0:
        return np.nan, 0
    contrasts = basis.T @ rows
    r = contrasts @ levels[used]
    v = contrasts @ cov(used) @ contrasts.T
    return float(r @ np.linalg.pinv(v) @ r), basis.shape[1]


def _auto_groups(exposures, usable, s: SkySettings):
    """``group_exposures: auto``: test whether the detectors (files) of each exposure group agree
    (see the module docstring). Returns the exposures, with each file its own group where its
    exposure's detectors differ, and a :class:`GroupTest` per exposure of several files."""
    members = {}
    for k, e in enumerate(exposures):
        members.setdefault(e.group, []).append(k)
    several = {g: m for g, m in members.items() if len(m) > 1}
    if not several:
        return exposures, []
    names = [e.name for e in exposures]
    files = [dataclasses.replace(e, group=e.name) for e in exposures]
    levels, cov, labels = _free_fit(names, _pair_differences(files, usable, names, s))
    alpha = s.group_significance
    tests = {}
    for g, m in several.items():
        chi2, dof = _equal_levels_chi2([m], levels, cov, labels)
        p = float(chi2_distribution.sf(chi2, dof)) if dof else np.nan
        spreads = [np.ptp(levels[[k for k in m if labels[k] == c]]) for c in set(labels[m])]
        spread = max(spreads) if dof else np.nan
        if not dof:
            reason = "no overlap links its detectors' levels: one level, as the official step"
        elif p < alpha:
            reason = f"its detectors' levels differ: chi2 {chi2:.1f} for {dof} dof, p {p:.2g} < {alpha:g}"
        else:
            reason = f"its detectors' levels agree: chi2 {chi2:.1f} for {dof} dof, p {p:.2g} >= {alpha:g}"
        tests[g] = GroupTest(g, [names[k] for k in m], not p < alpha, chi2, dof, p, float(spread), reason)
    _test_links(several, tests, levels, cov, labels, alpha)
    split = {g for g, test in tests.items() if not test.one_level}
    out = [f if e.group in split else e for e, f in zip(exposures, files, strict=True)]
    for test in tests.values():
        log.info("%s: %s", test.exposure, test.reason)
    log.info(
        "group_exposures auto: %d of %d exposures of several detectors keep one level, %d one level "
        "per detector",
        len(tests) - len(split),
        len(tests),
        len(split),
    )
    return out, list(tests.values())


def _test_links(several, tests, levels, cov, labels, alpha):
    """Exposures whose detectors lie in sets that no overlap links (NIRCam's two modules): the
    exposures' shared levels are then the only links, and must all give one offset between the
    sets. Tested together; where they disagree, those exposures are split (``tests`` updated)."""
    linking = [g for g, m in several.items() if tests[g].one_level and len(set(labels[m])) > 1]
    if not linking:
        return
    chi2, dof = _equal_levels_chi2([several[g] for g in linking], levels, cov, labels)
    if not dof:
        return
    p = float(chi2_distribution.sf(chi2, dof))
    words = f"chi2 {chi2:.1f} for {dof} dof, p {p:.2g}"
    for g in linking:
        test = tests[g]
        if p < alpha:
            test.one_level, test.reason = (
                False,
                f"its detectors are linked only through the exposures' shared levels, which disagree "
                f"across {len(linking)} exposures ({words} < {alpha:g}): one level per detector, the "
                "detector sets linked by their local levels",
            )
        else:
            test.reason += f"; the exposures' shared levels link its detector sets consistently ({words})"
        if not test.dof:
            test.chi2, test.dof, test.p = chi2, dof, p


def _link_by_local(components, rel, local, tests):
    """Components (lists of groups) that a split exposure (``tests``) spans, joined into one:
    each shifted by the mean of its groups' local less relative levels (``rel`` updated), so the
    detector sets that no overlap links keep the offset their local levels give."""
    where = {g: c for c, comp in enumerate(components) for g in comp}
    join = np.arange(len(components))
    for test in tests:
        if not test.one_level:
            parts = sorted({join[where[f]] for f in test.files})
            join[np.isin(join, parts)] = parts[0]
    if len(set(join)) == len(components):
        return components
    linked = []
    for root in dict.fromkeys(join):
        parts = [components[c] for c in np.flatnonzero(join == root)]
        if len(parts) > 1:
            for comp in parts:
                offsets = [local[g].value - rel[g] for g in comp if np.isfinite(local[g].value)]
                base = float(np.mean(offsets)) if offsets else 0.0
                rel.update({g: rel[g] + base for g in comp})
            log.info(
                "detector sets linked by their local levels (no overlap links them): %s",
                "; ".join(", ".join(comp) for comp in parts),
            )
        linked.append([g for comp in parts for g in comp])
    return linked


def _group_local_levels(exposures, groups, sky_only, usable, s: SkySettings):
    """Local level (:class:`Statistic`) of each group: the lowest of its files' local levels, as
    the official step (a group's sky is the minimum of its members'), so no file of the group has
    more than its own sky taken off. A file's local level is ``s.skystat`` of its sky cells'
    means (``sky_only``: without extended sources' outskirts; all ``usable`` cells where fewer
    than ``s.min_overlap_cells`` are left)."""
    local = {}
    for g in groups:
        best = Statistic(np.nan, np.nan, 0)
        for e, (_, clean), (_, means) in zip(exposures, sky_only, usable, strict=True):
            if e.group != g:
                continue
            stat = sky_statistic(clean if clean.size >= s.min_overlap_cells else means, s)
            if np.isfinite(stat.value) and (not np.isfinite(best.value) or stat.value < best.value):
                best = stat
        local[g] = best
        if not np.isfinite(best.value):
            log.warning("group %s: no usable sky cells; its local level is unknown", g)
    return local


def compute_sky(exposures: list[ExposureCells], s: SkySettings) -> SkyResult:
    """Levels of ``exposures`` by ``s.skymethod`` (not ``user``: see :func:`user_sky`).

    The ``group`` of each exposure (file) is its exposure group: with ``s.group_exposures`` True
    they share one level, with ``"auto"`` only where its detectors agree (:func:`_auto_groups`).
    """
    usable = _usable_cells(exposures, s.cell_size)
    tests = []
    if s.group_exposures == "auto":
        exposures, tests = _auto_groups(exposures, usable, s)
    groups = list(dict.fromkeys(e.group for e in exposures))
    sky_only = _usable_cells(exposures, s.cell_size, outskirts=True) if s.mask_grow > 0 else usable
    local = _group_local_levels(exposures, groups, sky_only, usable, s)
    pairs = _pair_differences(exposures, usable, groups, s)
    relative, components = _solve(groups, pairs)
    rel = dict(zip(groups, relative, strict=True))
    components = _link_by_local(components, rel, local, tests)
    method = s.skymethod
    if method == "local":
        level = {g: local[g].value for g in groups}
    elif method == "global":
        finite = [local[g].value for g in groups if np.isfinite(local[g].value)]
        level = dict.fromkeys(groups, min(finite) if finite else np.nan)
    else:
        level = {}
        for comp in components:
            if method == "match":
                ref = min(rel[g] for g in comp) if s.match_down else max(rel[g] for g in comp)
                level.update({g: rel[g] - ref for g in comp})
            else:
                finite = [local[g].value - rel[g] for g in comp if np.isfinite(local[g].value)]
                base = min(finite) if finite else np.nan
                level.update({g: rel[g] + base for g in comp})
        if len(components) > 1:
            log.warning(
                "%d groups of exposures do not overlap each other; each is matched on its own and their "
                "levels are not matched to one another: %s",
                len(components),
                "; ".join(", ".join(c) for c in components),
            )
    for g in groups:
        if not np.isfinite(level[g]):
            log.warning("group %s: no sky level could be measured; recording 0", g)
            level[g] = 0.0
    for p in pairs:
        p.after = p.before - (level[p.a] - level[p.b])
        log.info(
            "overlap %s - %s: %.6f +- %.6f MJy/sr in %d cells; %.6f after",
            p.a,
            p.b,
            p.before,
            p.error,
            p.n,
            p.after,
        )
    levels = {e.name: float(level[e.group]) + e.level0 for e in exposures}
    groups = {e.name: e.group for e in exposures}
    return SkyResult(method, levels, groups, local, components, pairs, tests)


# --- files -----------------------------------------------------------------------------------------


def user_sky(skylist, names, key="skymatch.skylist", files=None) -> SkyResult:
    """Levels from a user file: one ``<exposure or file name> <level MJy/sr>`` pair per line.

    A name is an exposure name or a file name (any folder, ``.fits`` or not); it names the
    exposure whose name it is, else the one whose file name (``files``, in the order of ``names``;
    None: the exposure names) it equals once each has lost one known pipeline suffix
    (:func:`~image3.skymatch.suffix.name_root`: ``_cal``, ``_crf``, ``_skymatch``, ..., as the
    official step; an unknown ``_suffix`` stays). Blank lines and lines starting with ``#`` are
    skipped; a line naming no exposure of the product is ignored with a warning. Every exposure of
    ``names`` must appear exactly once.
    """
    path = Path(skylist)
    try:
        lines = path.read_text().splitlines()
    except OSError as err:
        raise InputError(f"{key} = {skylist!r}: cannot read it ({err.strerror})") from None
    exact = set(names)
    roots = {name_root(f): n for f, n in zip(files or names, names, strict=True)}
    levels = {}
    for number, line in enumerate(lines, 1):
        words = line.split()
        if not words or words[0].startswith("#"):
            continue
        try:
            listed, value = words[0], float(words[1])
        except (IndexError, ValueError):
            raise InputError(f"{path}, line {number}: expected '<exposure> <level>', got {line!r}") from None
        stem = Path(listed).name.removesuffix(".fits")
        name = stem if stem in exact else roots.get(name_root(listed))
        if name is None:
            log.warning("%s, line %d: %s is no exposure of this product; ignored", path, number, listed)
            continue
        if name in levels:
            raise InputError(f"{path}, line {number}: exposure {name} is listed twice")
        levels[name] = value
    missing = [n for n in names if n not in levels]
    if missing:
        raise InputError(f"{key} = {skylist!r} has no level for exposure(s) {', '.join(missing)}")
    return SkyResult("user", {n: levels[n] for n in names}, {n: n for n in names})


def measure_files(paths, names, s: SkySettings, geometries=None) -> SkyResult:
    """Levels of the level-2b files ``paths`` (exposures ``names``) by ``s.skymethod``.

    ``geometries`` is ``{exposure: Geometry}`` of the aligned WCS (the product's geometry file);
    None: each file's own WCS, sampled here. The headers are read first (groups, levels already
    subtracted, and the sky grid), then the data one file at a time, reduced to sky cells at once.
    """
    headers = [read_lean(path, ()) for path in paths]
    if geometries is None:
        geometries = {name: _own_geometry(path) for path, name in zip(paths, names, strict=True)}
    missing = [n for n in names if n not in geometries]
    if missing:
        raise InputError(f"no aligned WCS (geometry) for exposure(s) {', '.join(missing)}")
    grid = sky_grid([geometries[n] for n in names], s.cell_size)
    log.info("sky grid of %d x %d cells of %d pixels", grid.shape[1], grid.shape[0], s.cell_size)
    cells, excluded = [], {}
    for path, name, header in zip(paths, names, headers, strict=True):
        group = group_id(header.observation, name, group_exposures=s.group_exposures in (True, "auto"))
        level0 = _subtracted_level(header, path, s)
        lean = read_lean(path, ("SCI", "DQ"))
        if excluded_exposure(lean.arrays["sci"], lean.arrays["dq"], path):
            excluded[name] = level0  # no sky level: it records the level already subtracted
            continue
        cells.append(
            exposure_cells(
                name, group, lean.arrays["sci"], lean.arrays["dq"], geometries[name], grid, s, level0
            )
        )
        share = cells[-1].source.sum() / max(cells[-1].total.sum(), 1)
        log.info("%s: %d sky cells, %.1f%% of its pixels in sources", name, cells[-1].cells.size, 100 * share)
    if not cells:
        raise InputError(
            "no exposure of the product has a valid pixel (SCI all NaN or every pixel DO_NOT_USE): "
            + ", ".join(map(str, paths))
        )
    result = compute_sky(cells, s)
    if excluded:
        result.levels = {n: result.levels[n] if n in result.levels else excluded[n] for n in names}
        result.groups = {n: result.groups.get(n, n) for n in names}
    return result


def _own_geometry(path) -> Geometry:
    """The file's own WCS sampled (when no aligned WCS is given)."""
    from ..io.level2b import open_level2b

    with open_level2b(path) as model:
        return Geometry.from_wcs(model.meta.wcs, model.data.shape)


def _subtracted_level(header, path, s: SkySettings) -> float:
    """The level already subtracted from the file's data (``meta.background``; ``header`` a
    :class:`~image3.io.fits_read.LeanExposure`), 0 if none."""
    if not header.sky_subtracted:
        return 0.0
    if header.sky_level is None:
        raise InputError(f"{path}: meta.background.subtracted is set but meta.background.level is not")
    if not s.subtract:
        raise InputError(
            f"{path}: its sky ({header.sky_level} MJy/sr) was already subtracted from the data "
            "(meta.background.subtracted); set skymatch.subtract: true to measure and subtract the rest"
        )
    return float(header.sky_level)
