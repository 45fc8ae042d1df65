"""The resample step: the product's output grid, the drizzle of the exposures onto it, the ``_i2d``
model, and the preview figure.

Public names are re-exported here and imported on first use (:mod:`image3._lazy`).
"""

from .._lazy import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "drizzle": ["VARIANCES", "coverage_count", "Exposure", "Mosaic", "weight_map"],
        "grid": [
            "Grid",
            "TanProjection",
            "detector_rotation",
            "grid_from_asdf",
            "make_grid",
            "mean_position",
            "native_pixel_scale",
            "read_grid",
            "tan_wcs",
            "write_grid",
        ],
        "i2d": ["build_i2d"],
        "qa": ["plot_mosaic"],
        "settings": ["KERNELS", "DrizzleSettings", "fill_value"],
    },
)
