"""Small helpers shared by several steps: PSF widths from the filter, a fast background map.

Public names are re-exported here and imported on first use (:mod:`image3._lazy`).
"""

from .._lazy import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "background": ["background_map"],
        "psf_width": [
            "PIVOT_MICRON",
            "PIXEL_BOX_FWHM",
            "detection_fwhm",
            "diffraction_fwhm",
            "lambda_over_d_pixels",
            "nominal_pixel_scale",
        ],
    },
)
