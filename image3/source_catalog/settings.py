"""The ``source_catalog`` config section's detection and measurement settings (official names).

Standard library only: the rules read these fields when the workflow loads."""

from dataclasses import dataclass

from ..errors import InputError

__all__ = ["MODES", "CatalogSettings", "validate_ee"]

MODES = ("exponential", "linear", "sinh")


@dataclass(frozen=True)
class CatalogSettings:
    """The ``source_catalog`` config section's detection and measurement parameters (official names
    and defaults, except ``deblend``, on here); pixel lengths are mosaic pixels."""

    bkg_boxsize: int = 1000
    kernel_fwhm: float = 2.0
    snr_threshold: float = 3.0
    npixels: int = 25
    connectivity: int = 8
    deblend: bool = True
    nlevels: int = 32
    contrast: float = 0.001
    mode: str = "exponential"
    localbkg_width: int = 0
    aperture_ee1: int = 30
    aperture_ee2: int = 50
    aperture_ee3: int = 70
    ci1_star_threshold: float | None = None
    ci2_star_threshold: float | None = None

    def __post_init__(self):
        if self.connectivity not in (4, 8):
            raise InputError(f"source_catalog.connectivity = {self.connectivity}: use 4 or 8")
        if self.mode not in MODES:
            raise InputError(f"source_catalog.mode = {self.mode!r}: choose one of {MODES}")
        validate_ee(self.ee)

    @property
    def ee(self):
        return (self.aperture_ee1, self.aperture_ee2, self.aperture_ee3)


def validate_ee(ee):
    """Three strictly increasing encircled-energy percentages in (0, 100)."""
    ee = tuple(int(e) for e in ee)
    if len(ee) != 3 or not (0 < ee[0] < ee[1] < ee[2] < 100):
        raise InputError(
            f"source_catalog.aperture_ee1/2/3 = {ee}: three increasing percentages between 0 and 100"
        )
    return ee
