"""The ``skymatch`` config section (official names and defaults, plus the masking and cell keys).

Standard library only: the rules read these fields when the workflow loads."""

from dataclasses import dataclass

from ..errors import InputError

__all__ = ["METHODS", "STATISTICS", "SkySettings"]

METHODS = ("local", "global", "match", "global+match", "user")


STATISTICS = ("mode", "median", "midpt", "mean")


@dataclass(frozen=True)
class SkySettings:
    """The ``skymatch`` config section (official names and defaults, plus the masking and cell keys).

    ``lower``/``upper`` bound usable pixel values (MJy/sr); ``nclip``, ``lsigma``, ``usigma`` and
    ``binwidth`` (in standard deviations) configure ``skystat``. ``skylist`` is the user file of
    ``exposure level`` lines for ``skymethod: user``. ``group_exposures``: True, the detectors of one
    exposure share one level (as the official step); False, each detector has its own; ``"auto"``,
    each detector's level is fitted and an exposure keeps one level only where its detectors agree
    within their noise (a chi-square test at significance ``group_significance``, see
    :func:`image3.skymatch.levels.compute_sky`). ``cell_size`` in detector pixels; ``detect_threshold``
    in standard deviations of the smoothed image (Gaussian of ``detect_fwhm`` pixels);
    ``detect_npixels`` the smallest source; ``mask_dilate`` pixels added around each source;
    ``mask_grow`` masks in addition within that many radii (``sqrt(area / pi)``) of each source
    (0: off); ``destripe`` takes 1/f row offsets off the data first and ``sky_plane`` each
    exposure's tilt; ``min_overlap_cells`` the fewest common cells that make two exposures
    overlap.
    """

    skymethod: str = "match"
    match_down: bool = True
    subtract: bool = False
    skylist: str = ""
    skystat: str = "mode"
    dqbits: str | int | None = "~DO_NOT_USE+NON_SCIENCE"
    lower: float | None = None
    upper: float | None = None
    nclip: int = 5
    lsigma: float = 4.0
    usigma: float = 4.0
    binwidth: float = 0.1
    group_exposures: bool | str = "auto"
    group_significance: float = 1e-3
    cell_size: int = 8
    detect_fwhm: float = 3.0
    detect_threshold: float = 3.0
    detect_npixels: int = 10
    mask_dilate: int = 4
    mask_grow: float = 0.0
    destripe: bool = False
    sky_plane: bool = False
    min_overlap_cells: int = 25

    def __post_init__(self):
        checks = {
            "skymethod": self.skymethod in METHODS,
            "skystat": self.skystat in STATISTICS,
            "nclip": self.nclip >= 0,
            "lsigma": self.lsigma > 0,
            "usigma": self.usigma > 0,
            "binwidth": self.binwidth > 0,
            "group_exposures": self.group_exposures is True
            or self.group_exposures is False
            or self.group_exposures == "auto",
            "group_significance": 0 < self.group_significance < 1,
            "cell_size": self.cell_size >= 2,
            "detect_threshold": self.detect_threshold > 0,
            "detect_npixels": self.detect_npixels >= 1,
            "mask_dilate": self.mask_dilate >= 0,
            "mask_grow": self.mask_grow >= 0,
            "min_overlap_cells": self.min_overlap_cells >= 1,
        }
        for key, ok in checks.items():
            if not ok:
                raise InputError(f"skymatch.{key} = {getattr(self, key)!r} is not valid")
        if self.lower is not None and self.upper is not None and self.lower >= self.upper:
            raise InputError(f"skymatch.lower = {self.lower} must be below skymatch.upper = {self.upper}")
        if self.skymethod == "user" and not self.skylist:
            raise InputError("skymatch.skymethod = 'user' needs skymatch.skylist (a file of levels)")
