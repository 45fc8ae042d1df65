"""Point-source catalogs for alignment: photutils detection with PSF-aware defaults.

Positions are 0-based detector pixels (x along columns). Bad pixels (any DQ flag outside the good
bits, or non-finite values) are masked. When ``kernel_fwhm`` is not set it comes from the exposure's
filter (image3.psf_width), so undersampled short-wave data (F090W, about 1.2 pixels) are detected
with a matching kernel instead of the official fixed 2.5 pixels.
"""

from dataclasses import dataclass

import numpy as np
from astropy.convolution import convolve
from astropy.table import Table
from photutils.detection import DAOStarFinder, IRAFStarFinder
from photutils.segmentation import SourceCatalog, detect_sources, make_2dgaussian_kernel

from .background_map import background_map
from .dq import good_pixels
from .errors import InputError

STARFINDERS = ("iraf", "dao", "segmentation")


@dataclass(frozen=True)
class DetectionSettings:
    """The source-finding parameters of the ``tweakreg`` config section (official names).

    None for ``kernel_fwhm`` means "from the filter"; None for the sharpness/roundness limits means
    the star finder's own defaults.
    """

    starfinder: str = "iraf"
    snr_threshold: float = 10.0
    bkg_boxsize: int = 400
    kernel_fwhm: float | None = None
    sharplo: float | None = None
    sharphi: float | None = None
    roundlo: float | None = None
    roundhi: float | None = None
    brightest: int | None = 200
    peakmax: float | None = None
    npixels: int = 10
    good_bits: str = "~DO_NOT_USE+NON_SCIENCE"

    def __post_init__(self):
        if self.starfinder not in STARFINDERS:
            raise InputError(f"tweakreg.starfinder = {self.starfinder!r}: choose one of {STARFINDERS}")


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
    the threshold is ``snr_threshold`` times the median background noise (image3.background_map).
    """
    mask = ~good_pixels(dq, settings.good_bits, "tweakreg.good_bits") | ~np.isfinite(data)
    box = int(min(settings.bkg_boxsize, *(n // 2 for n in data.shape)))
    background, rms = background_map(np.where(mask, 0.0, data), mask, box)
    image = np.where(mask, 0.0, data - background)
    threshold = settings.snr_threshold * np.median(rms[~mask])
    common = {"n_brightest": settings.brightest, "peak_max": settings.peakmax}
    if settings.starfinder == "dao":
        finder = DAOStarFinder(threshold, fwhm, **common, **_ranges(((0.2, 1.0), (-1.0, 1.0)), settings))
        found = finder.find_stars(image, mask=mask)
    elif settings.starfinder == "iraf":
        finder = IRAFStarFinder(threshold, fwhm, **common, **_ranges(((0.5, 2.0), (0.0, 0.2)), settings))
        found = finder.find_stars(image, mask=mask)
    else:
        found = _segmentation_sources(image, mask, fwhm, threshold, settings)
    if found is None or len(found) == 0:
        return Table({"x": np.zeros(0), "y": np.zeros(0), "flux": np.zeros(0)})
    return Table(
        {
            "x": np.asarray(found["xcentroid"], float),
            "y": np.asarray(found["ycentroid"], float),
            "flux": np.asarray(found["flux"], float),
        }
    )


def smoothing_kernel(fwhm):
    """Gaussian detection kernel of ``fwhm`` pixels, odd size about 4 FWHM, sum 1."""
    return make_2dgaussian_kernel(fwhm, size=2 * int(np.ceil(2 * fwhm)) + 1)


def _segmentation_sources(image, mask, fwhm, threshold, settings):
    """Image segmentation (smoothed with the detection kernel) and centroids of the segments."""
    smoothed = convolve(image, smoothing_kernel(fwhm), mask=mask)
    segments = detect_sources(smoothed, threshold, npixels=settings.npixels, mask=mask)
    if segments is None:
        return None
    sources = SourceCatalog(image, segments, mask=mask)
    cat = Table(
        {
            "x_centroid": sources.centroid[:, 0],
            "y_centroid": sources.centroid[:, 1],
            "flux": sources.segment_flux,
        }
    )
    if settings.peakmax is not None:
        cat = cat[np.asarray(sources.max_value) < settings.peakmax]
    cat.sort("flux", reverse=True)
    return cat[: settings.brightest] if settings.brightest else cat
