"""Expected PSF width of an exposure from its instrument, filter and pixel scale.

The diffraction FWHM of JWST's 6.5 m aperture is 1.029 lambda/D at the filter's pivot wavelength;
the pixel adds a box of one pixel (variance 1/12 pixel^2), so the width detection kernels should use
is sqrt(FWHM_diffraction^2 + (2.355 / sqrt(12))^2) pixels.
"""

import numpy as np

__all__ = [
    "PIVOT_MICRON",
    "PIXEL_BOX_FWHM",
    "detection_fwhm",
    "diffraction_fwhm",
    "lambda_over_d_pixels",
    "nominal_pixel_scale",
]

TELESCOPE_DIAMETER_M = 6.5

# Pivot wavelengths in micron (JDox) of NIRCam and NIRISS imaging filters and MIRI's broad filters.
PIVOT_MICRON = {
    "F070W": 0.704,
    "F090W": 0.902,
    "F115W": 1.154,
    "F140M": 1.405,
    "F150W": 1.501,
    "F162M": 1.627,
    "F182M": 1.845,
    "F187N": 1.874,
    "F200W": 1.990,
    "F210M": 2.093,
    "F212N": 2.121,
    "F250M": 2.503,
    "F277W": 2.786,
    "F300M": 2.996,
    "F335M": 3.365,
    "F356W": 3.563,
    "F360M": 3.621,
    "F410M": 4.092,
    "F444W": 4.421,
    "F460M": 4.624,
    "F480M": 4.834,
    "F560W": 5.635,
    "F770W": 7.639,
    "F1000W": 9.953,
    "F1130W": 11.309,
    "F1280W": 12.810,
    "F1500W": 15.064,
    "F1800W": 17.984,
    "F2100W": 20.795,
    "F2550W": 25.365,
}

PIXEL_BOX_FWHM = 2.3548 / np.sqrt(12.0)

# Nominal pixel scales (arcsec, JDox) by the DETECTOR keyword, for files without PIXAR_A2.
NOMINAL_PIXEL_SCALE = {
    **dict.fromkeys([f"NRC{m}{k}" for m in "AB" for k in range(1, 5)], 0.031),
    "NRCALONG": 0.063,
    "NRCBLONG": 0.063,
    "MIRIMAGE": 0.11,
    "NIS": 0.0656,
}


def nominal_pixel_scale(detector: str | None) -> float | None:
    """The detector's nominal pixel scale in arcsec (None for an unknown detector)."""
    return NOMINAL_PIXEL_SCALE.get(str(detector).upper()) if detector else None


def lambda_over_d_pixels(filter_name: str, pixel_scale: float) -> float:
    """lambda/D of the filter in pixels of ``pixel_scale`` arcsec."""
    wavelength_m = PIVOT_MICRON[filter_name.upper()] * 1e-6
    return float(np.rad2deg(wavelength_m / TELESCOPE_DIAMETER_M) * 3600.0 / pixel_scale)


def diffraction_fwhm(filter_name: str, pixel_scale: float) -> float:
    """FWHM of the Airy core in pixels (1.029 lambda/D)."""
    return 1.029 * lambda_over_d_pixels(filter_name, pixel_scale)


def detection_fwhm(filter_name: str | None, pixel_scale: float | None, default: float = 2.5) -> float:
    """FWHM in pixels of a star as sampled by the detector, or ``default`` for unknown filters or
    pixel scales (None)."""
    if not filter_name or filter_name.upper() not in PIVOT_MICRON or not pixel_scale:
        return default
    return float(np.hypot(diffraction_fwhm(filter_name, pixel_scale), PIXEL_BOX_FWHM))
