"""The ``resample`` config section's drizzle settings (official names).

Standard library only: the rules read these fields when the workflow loads."""

from dataclasses import dataclass

from ..errors import InputError

__all__ = ["KERNELS", "DrizzleSettings", "fill_value"]

KERNELS = ("square", "point", "turbo", "gaussian", "lanczos2", "lanczos3")


@dataclass(frozen=True)
class DrizzleSettings:
    """Parameters of the ``resample`` config section that the drizzle itself uses."""

    kernel: str = "square"
    pixfrac: float = 1.0
    fillval: str = "NaN"
    weight_type: str = "ivm"
    good_bits: str = "~DO_NOT_USE+NON_SCIENCE"
    pixmap_step: int = 16

    def __post_init__(self):
        if self.kernel not in KERNELS:
            raise InputError(f"resample.kernel = {self.kernel!r}: choose one of {KERNELS}")
        if self.weight_type not in ("ivm", "exptime"):
            raise InputError(f"resample.weight_type = {self.weight_type!r}: use 'ivm' or 'exptime'")
        try:
            fill_value(self.fillval)
        except ValueError:
            raise InputError(f"resample.fillval = {self.fillval!r}: a number, 'NaN' or 'INDEF'") from None


def fill_value(fillval) -> float:
    """``fillval`` as a number: "NaN" and "INDEF" (official spellings) are NaN."""
    if isinstance(fillval, str) and fillval.strip().upper() in ("NAN", "INDEF"):
        return float("nan")
    return float(fillval)
