"""The skymatch step: sky statistics on a cell grid, matched levels between overlapping exposures,
the per-exposure sky file, and the QA figure.

Public names are re-exported here and imported on first use (:mod:`image3._lazy`).
"""

from .._lazy import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "qa": ["plot_skymatch"],
        "settings": ["METHODS", "STATISTICS", "SkySettings"],
        "sky": [
            "compute_sky",
            "connected_above",
            "exposure_cells",
            "ExposureCells",
            "load_result",
            "measure_files",
            "Pair",
            "save_result",
            "sky_grid",
            "sky_statistic",
            "SkyResult",
            "Statistic",
            "user_sky",
        ],
        "store": ["read_sky_entry", "read_sky_file", "write_sky_file"],
    },
)
