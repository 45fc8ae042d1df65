"""The outlier_detection step: single drizzles, their median (written in sections), the blot and
the flags (cosmic rays at single coverage and on sources), and the QA figure.

Public names are re-exported here and imported on first use (:mod:`image3._lazy`).
"""

from .._lazy import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "files": [
            "SECTION_MB",
            "SingleImage",
            "grid_shape",
            "median_image",
            "median_sections",
            "read_mask",
            "read_median",
            "write_mask",
            "write_median",
            "write_median_sections",
            "write_single",
        ],
        "outliers": [
            "KERNEL_REACH",
            "blot",
            "blot_window",
            "blotted_median",
            "flag_outliers",
            "flux_agrees",
            "laplacian_significance",
            "laplacian_statistics",
            "local_maxima_5x5",
            "maximum_3x3",
            "single_image",
        ],
        "qa": ["CUTOUT_EXPOSURES", "plot_outliers"],
        "settings": ["FlagSettings", "threshold_pair"],
    },
)
