"""Point-source catalogs for alignment: photutils detection with PSF-aware defaults.

Positions are 0-based detector pixels (x along columns). Bad pixels (any DQ flag outside the good
bits, or non-finite values) are masked. When ``kernel_fwhm`` is not set it comes from the exposure's
filter (image3.utils.psf_width), so undersampled short-wave data (F090W, about 1.2 pixels) are detected
with a matching kernel instead of the official fixed 2.5 pixels.

The star finders' peaks are found here (:func:`circular_peaks`) and handed to photutils as
``xycoords``: photutils tests every local maximum of the whole image against its circular footprint
before applying the threshold (a Python loop over tens of thousands of noise peaks); here only
pixels above the threshold are tested, which gives the same peaks.

Saturated stars (image3.tweakreg.saturated): a small saturated core (an AB ~18 star's one or two
NaN pixels in F150W) is refilled from a fit to the pixels around it, so the star is detected and
centred as if whole; no detection is kept within a zone around a larger core (a bright star, whose
spikes and rings the star finder would fire on). The zones are taken out before the ``brightest``
cut, so they do not take the real sources' places.

Sources on extended light (:func:`on_extended_light`): the nucleus of a large galaxy is a small
bump on a broad bright profile, its centroid a tenth of a pixel or more off and different in each
exposure; a detection whose surroundings (the median 3-5 FWHM from it) are brighter than
``max_pedestal`` times its own peak above them is left out.
"""

import logging
from dataclasses import replace

import numpy as np
from astropy.table import Table
from photutils.detection import DAOStarFinder, IRAFStarFinder
from scipy import ndimage

from ..io.dq import good_pixels
from ..utils.background import background_map
from .saturated import refill_small_cores, saturated_cores, saturated_star_zones
from .settings import DetectionSettings

__all__ = [
    "star_finder_for",
    "circular_peaks",
    "find_sources",
    "find_sources_sparse",
    "on_extended_light",
    "smoothing_kernel",
]

log = logging.getLogger("image3")
# photutils class and default (sharpness, roundness) ranges of each star finder.
STAR_FINDERS = {
    "dao": (DAOStarFinder, ((0.2, 1.0), (-1.0, 1.0))),
    "iraf": (IRAFStarFinder, ((0.5, 2.0), (0.0, 0.2))),
}


# A PSF at least this wide (FWHM, pixels) is sampled well enough for the star finders' sharpness
# test to tell cosmic rays and noise peaks from stars, so a sparse field may be searched deeper,
# and for DAOFind's centroids to beat starfind's (star_finder_for).
WELL_SAMPLED_FWHM = 2.0


def star_finder_for(starfinder: str, fwhm: float) -> str:
    """The star finder to run: ``auto`` is DAOFind (``dao``) at a detection FWHM of at least
    ``WELL_SAMPLED_FWHM`` pixels, IRAF's starfind (``iraf``, the official default) below; any other
    choice as given.

    Measured on the simulator (Airy PSFs, relative alignment over 6 exposures of 1024², 2 seeds):
    iraf / dao 0.09-0.13 / 1.2-1.3 mas in F090W (FWHM about 1 pixel), 0.06-0.08 / 0.26-0.31 in
    F150W, 0.27-0.29 / 0.10-0.20 in F200W (2.2 pixels); NIRCam LW 0.33 / 0.17; MIRI F770W full
    frame 2.6 / 0.9, with 11-18 sources 8.5 / 5.4. starfind's moments centre an undersampled star
    better; on a wider PSF DAOFind's Gaussian fits to the marginals use the wings it leaves out.
    """
    if starfinder != "auto":
        return starfinder
    return "dao" if fwhm >= WELL_SAMPLED_FWHM else "iraf"


def find_sources_sparse(data, dq, fwhm: float, settings: DetectionSettings, *, minobj, sparse_snr_threshold):
    """:func:`find_sources`, searched again at ``sparse_snr_threshold`` when it finds fewer than
    ``minobj`` sources and the PSF is well sampled (``fwhm`` >= ``WELL_SAMPLED_FWHM`` pixels); the
    catalog's meta ``snr_threshold`` says which threshold it holds."""
    catalog = find_sources(data, dq, fwhm, settings)
    catalog.meta["snr_threshold"] = settings.snr_threshold
    deeper = sparse_snr_threshold is not None and sparse_snr_threshold < settings.snr_threshold
    if len(catalog) >= minobj or fwhm < WELL_SAMPLED_FWHM or not deeper:
        return catalog
    low = replace(settings, snr_threshold=sparse_snr_threshold)
    found = find_sources(data, dq, fwhm, low)
    log.warning(
        "sparse field: %d sources at snr_threshold %g (< minobj = %d); %d at sparse_snr_threshold %g",
        len(catalog),
        settings.snr_threshold,
        minobj,
        len(found),
        sparse_snr_threshold,
    )
    found.meta["snr_threshold"] = sparse_snr_threshold
    return found


def _ranges(finder_defaults, settings):
    """sharpness_range and roundness_range from the settings, falling back to the finder's."""
    (s_lo, s_hi), (r_lo, r_hi) = finder_defaults
    sharp = (
        s_lo if settings.sharplo is None else settings.sharplo,
        s_hi if settings.sharphi is None else settings.sharphi,
    )
    round_ = (
        r_lo if settings.roundlo is None else settings.roundlo,
        r_hi if settings.roundhi is None else settings.roundhi,
    )
    return {"sharpness_range": sharp, "roundness_range": round_}


def find_sources(data, dq, fwhm: float, settings: DetectionSettings) -> Table:
    """Detect point sources; returns a Table with ``x``, ``y`` (0-based pixels) and ``flux``.

    ``fwhm`` is the detection kernel's FWHM in pixels. The background and its noise come from a
    sigma-clipped ``Background2D`` with boxes of ``bkg_boxsize`` pixels (smaller for small images);
    the threshold is ``snr_threshold`` times the median background noise (image3.utils.background).
    Saturated cores of at most ``small_core_pixels`` are refilled (saturated.refill_small_cores);
    no source is kept within ``spike_reach`` of the others (saturated.saturated_star_zones), nor
    one on extended light (:func:`on_extended_light`).
    """
    mask = ~good_pixels(dq, settings.good_bits, "tweakreg.good_bits") | ~np.isfinite(data)
    if mask.all():  # no valid pixel (see dq.has_valid_pixels): no sources
        return Table({"x": np.zeros(0), "y": np.zeros(0), "flux": np.zeros(0)})
    box = int(min(settings.bkg_boxsize, *(n // 2 for n in data.shape)))
    background, rms = background_map(np.where(mask, 0.0, data), mask, box)
    threshold = settings.snr_threshold * np.median(rms[~mask])
    cores = saturated_cores(data, dq)
    image, refilled = refill_small_cores(
        np.where(mask, 0.0, data - background), ~mask, cores, fwhm, settings.small_core_pixels
    )
    mask &= ~refilled
    excluded = saturated_star_zones(cores & ~refilled, fwhm, settings.spike_reach)
    starfinder = star_finder_for(settings.starfinder, fwhm)
    if starfinder in STAR_FINDERS:
        finder_class, default_ranges = STAR_FINDERS[starfinder]
        options = {"n_brightest": settings.brightest, "peak_max": settings.peakmax}
        options |= _ranges(default_ranges, settings)
        found = _star_finder_sources(finder_class, image, mask, excluded, threshold, fwhm, options)
    else:
        found = _segmentation_sources(image, mask, excluded, fwhm, threshold, settings)
    if found is None or len(found) == 0:
        return Table({"x": np.zeros(0), "y": np.zeros(0), "flux": np.zeros(0)})
    x, y = np.asarray(found["x_centroid"], float), np.asarray(found["y_centroid"], float)
    keep = ~on_extended_light(image, mask, x, y, fwhm, settings.max_pedestal)
    return Table({"x": x[keep], "y": y[keep], "flux": np.asarray(found["flux"], float)[keep]})


def on_extended_light(image, mask, x, y, fwhm: float, max_pedestal: float | None) -> np.ndarray:
    """Sources (boolean per source) that sit on extended light: the median of the unmasked pixels
    of background-subtracted ``image`` between 3 and 5 ``fwhm`` from the source's pixel (``x``,
    ``y``, 0-based, rounded) exceeds ``max_pedestal`` times the source's brightest pixel within one
    pixel of it less that median. None: none."""
    on = np.zeros(len(x), bool)
    if max_pedestal is None or len(x) == 0:
        return on
    half = int(np.ceil(5 * fwhm))
    offsets = np.arange(-half, half + 1)
    distance = np.hypot(offsets[None, :], offsets[:, None])
    annulus = (distance >= 3 * fwhm) & (distance <= 5 * fwhm)
    padded = np.pad(np.where(mask, np.nan, image), half, constant_values=np.nan)
    windows = np.lib.stride_tricks.sliding_window_view(padded, (2 * half + 1,) * 2)
    ix = np.clip(np.round(x).astype(int), 0, image.shape[1] - 1)
    iy = np.clip(np.round(y).astype(int), 0, image.shape[0] - 1)
    stamps = windows[iy, ix]
    with np.errstate(all="ignore"):
        pedestal = np.nanmedian(stamps[:, annulus], axis=1)
        peak = np.nanmax(stamps[:, half - 1 : half + 2, half - 1 : half + 2], axis=(1, 2))
        return pedestal > max_pedestal * (peak - pedestal)


def _star_finder_sources(finder_class, image, mask, excluded, threshold, fwhm, options):
    """photutils' DAO or IRAF star finder on ``image``, with the peaks from :func:`circular_peaks`
    outside ``excluded``.

    The finder's own kernel, effective threshold (DAOFind scales it by the kernel's relative error)
    and minimum separation define the peaks, as in its ``find_stars``; None when there are none.
    """
    finder = finder_class(threshold, fwhm, **options)
    convolved = ndimage.convolve(image, finder.kernel.data, mode="constant", cval=0.0)
    level = getattr(finder, "threshold_eff", finder.threshold)
    xy = circular_peaks(convolved, level, finder.min_separation, mask)
    xy = xy[~excluded[xy[:, 1], xy[:, 0]]]
    if len(xy) == 0:
        return None
    return finder_class(threshold, fwhm, **options, xycoords=xy).find_stars(image, mask=mask)


def circular_peaks(image, threshold, radius, mask):
    """(x, y) of unmasked pixels above ``threshold`` that are the largest value within ``radius``.

    The same peaks, in the same (row-major) order, as photutils' ``find_peaks(image, threshold,
    mask=mask, min_separation=radius)``, whose rules are followed: zero beyond the image's edges; a
    peak is the largest value of the footprint's bounding box, or of the inscribed box and of the
    circular footprint (``np.arange(-radius, radius + 1)`` offsets, even-sized for fractional radii
    and anchored at ``size // 2``, counting the zero beyond an edge when the box is cut by it); ties
    are kept. Only pixels above the threshold are tested.
    """
    offsets = np.arange(-radius, radius + 1)
    size, half = offsets.size, offsets.size // 2
    footprint = offsets[None, :] ** 2 + offsets[:, None] ** 2 <= radius**2
    inscribed = max(int(np.floor(radius / np.sqrt(2) - 0.5 * (size % 2 == 0))), 1)
    iy, ix = np.nonzero((image > threshold) & ~mask)
    pad = max(half, inscribed)
    padded = np.pad(image, pad)
    windows = np.lib.stride_tricks.sliding_window_view(padded, (size, size))
    box = windows[iy + pad - half, ix + pad - half]
    inner = np.lib.stride_tricks.sliding_window_view(padded, (2 * inscribed + 1,) * 2)
    inner = inner[iy + pad - inscribed, ix + pad - inscribed]
    value = image[iy, ix]
    ny, nx = image.shape
    cut = (iy < half) | (ix < half) | (iy + size - half > ny) | (ix + size - half > nx)
    in_circle = np.where(cut, np.maximum(box[:, footprint].max(axis=1), 0.0), box[:, footprint].max(axis=1))
    definite = value == box.max(axis=(1, 2))
    peak = definite | ((value == inner.max(axis=(1, 2))) & (value == in_circle))
    return np.column_stack([ix[peak], iy[peak]])


def smoothing_kernel(fwhm):
    """Gaussian detection kernel of ``fwhm`` pixels, odd size about 4 FWHM, sum 1."""
    from photutils.segmentation import make_2dgaussian_kernel

    return make_2dgaussian_kernel(fwhm, size=2 * int(np.ceil(2 * fwhm)) + 1)


def _segmentation_sources(image, mask, excluded, fwhm, threshold, settings):
    """Image segmentation (smoothed with the detection kernel) and centroids of the segments, those
    whose centroid falls in ``excluded`` left out. With ``settings.deblend`` (the official default)
    touching sources are split, as photutils' ``SourceFinder``: ``nlevels`` thresholds between
    each segment's floor and peak, a part kept as a source of its own when it holds at least
    ``contrast`` of the segment's flux.

    photutils.segmentation and astropy.convolution are imported here: the star finders need neither.
    """
    from astropy.convolution import convolve
    from photutils.segmentation import SourceCatalog, deblend_sources, detect_sources

    smoothed = convolve(image, smoothing_kernel(fwhm), mask=mask)
    segments = detect_sources(smoothed, threshold, n_pixels=settings.npixels, mask=mask)
    if segments is None:
        return None
    if settings.deblend:
        segments = deblend_sources(
            smoothed,
            segments,
            settings.npixels,
            n_levels=settings.nlevels,
            contrast=settings.contrast,
            progress_bar=False,
        )
    sources = SourceCatalog(image, segments, mask=mask)
    cat = Table(
        {
            "x_centroid": sources.centroid[:, 0],
            "y_centroid": sources.centroid[:, 1],
            "flux": sources.segment_flux,
        }
    )
    ix = np.clip(np.round(np.nan_to_num(cat["x_centroid"])).astype(int), 0, image.shape[1] - 1)
    iy = np.clip(np.round(np.nan_to_num(cat["y_centroid"])).astype(int), 0, image.shape[0] - 1)
    keep = ~excluded[iy, ix]
    if settings.peakmax is not None:
        keep &= np.asarray(sources.max_value) < settings.peakmax
    cat = cat[keep]
    cat.sort("flux", reverse=True)
    return cat[: settings.brightest] if settings.brightest else cat
