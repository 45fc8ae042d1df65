"""The ``outlier_detection`` config section's thresholds (official names and meaning).

Standard library only: the rules read these fields when the workflow loads."""

from dataclasses import dataclass

from ..errors import InputError

__all__ = ["FlagSettings", "threshold_pair"]


def threshold_pair(text, key):
    """The two numbers of a "first second" threshold (``snr``, ``scale``), e.g. "5.0 4.0"."""
    try:
        values = [float(v) for v in str(text).replace(",", " ").split()]
    except ValueError:
        values = []
    if len(values) != 2:
        raise InputError(f"outlier_detection.{key} = {text!r}: give two numbers, e.g. '5.0 4.0'")
    return values


@dataclass(frozen=True)
class FlagSettings:
    """Thresholds of the ``outlier_detection`` config section (official names and meaning)."""

    snr: str = "5.0 4.0"
    scale: str = "1.2 0.7"
    backg: float = 0.0
    psf_term: float | None = None
    curvature: float = 0.07
    derivative_noise: float = 0.15
    single_coverage_crs: bool = True
    lacosmic_sigclip: float = 6.0
    lacosmic_sigfrac: float = 0.3
    lacosmic_objlim: float = 5.0
    lacosmic_sharpness: float = 3.0
    source_sharpness: float = 5.0
    spike_reach: int = 16

    def __post_init__(self):
        threshold_pair(self.snr, "snr")
        threshold_pair(self.scale, "scale")
