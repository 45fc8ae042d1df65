"""The ``tweakreg`` config section as settings: source finding and the fit (official names).

Standard library only: the rules read these fields when the workflow loads."""

from dataclasses import dataclass

from ..errors import InputError

__all__ = ["FITGEOMETRIES", "STARFINDERS", "DetectionSettings", "FitSettings"]

STARFINDERS = ("auto", "iraf", "dao", "segmentation")


@dataclass(frozen=True)
class DetectionSettings:
    """The source-finding parameters of the ``tweakreg`` config section (official names).

    ``starfinder`` ``auto`` (ours, the default): DAOFind for a well-sampled PSF, IRAF's starfind for an
    undersampled one (source_finding.star_finder_for). None for ``kernel_fwhm`` means "from the filter";
    None for the sharpness/roundness limits means the star finder's own defaults. ``npixels``,
    ``deblend``, ``nlevels`` and ``contrast``: the segmentation finder's smallest source and deblending
    (photutils' ``deblend_sources``), as the official ``SourceFinder``. ``spike_reach`` (ours): no
    source is kept within ``spike_reach * fwhm * (r / fwhm) ** 1.5`` pixels of a saturated core of
    radius ``r`` pixels (saturated.saturated_star_zones); None or 0 keeps them. ``small_core_pixels``
    (ours): cores of at most this many pixels are refilled from a fit instead
    (saturated.refill_small_cores) and their stars kept; 0 refills none. ``max_pedestal`` (ours): a
    source whose surroundings are brighter than this times its own peak above them is left out
    (source_finding.on_extended_light); None keeps them.
    """

    starfinder: str = "auto"
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
    deblend: bool = True
    nlevels: int = 32
    contrast: float = 0.001
    spike_reach: float | None = 12.0
    small_core_pixels: int = 4
    max_pedestal: float | None = 1.0
    good_bits: str = "~DO_NOT_USE+NON_SCIENCE"

    def __post_init__(self):
        if self.starfinder not in STARFINDERS:
            raise InputError(f"tweakreg.starfinder = {self.starfinder!r}: choose one of {STARFINDERS}")


FITGEOMETRIES = ("shift", "rshift", "rscale", "general")


@dataclass(frozen=True)
class FitSettings:
    """Matching and fitting parameters (official names; lengths in arcsec).

    ``pair_minobj`` (ours, for the global fit): the fewest matches that make two exposures overlap;
    ``sparse_minobj`` (ours, global fit): the fewest matches of a group fitted for a shift alone
    when it has fewer than ``minobj`` (a sparse field).
    """

    searchrad: float = 2.0
    use2dhist: bool = True
    separation: float = 1.0
    tolerance: float = 0.7
    xoffset: float = 0.0
    yoffset: float = 0.0
    fitgeometry: str = "rshift"
    nclip: int = 3
    sigma: float = 3.0
    minobj: int = 15
    pair_minobj: int = 5
    sparse_minobj: int = 5

    def __post_init__(self):
        if self.fitgeometry not in FITGEOMETRIES:
            raise InputError(f"fitgeometry = {self.fitgeometry!r}: choose one of {FITGEOMETRIES}")
