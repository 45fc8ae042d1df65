"""The tweakreg step: source finding per exposure, relative alignment (tweakwcs and a global fit)
and absolute alignment to a reference catalog, and the alignment's QA.

Public names are re-exported here and imported on first use (:mod:`image3._lazy`).
"""

from .._lazy import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "alignment": [
            "ALIGNED",
            "align_absolute",
            "align_relative",
            "load_exposure_catalogs",
            "ExposureCatalog",
            "read_reference_catalog",
            "report",
        ],
        "global_fit": [
            "connected_sets",
            "inside",
            "linear_part",
            "match_pairs",
            "PairMatch",
            "PlaneCatalog",
            "Solution",
            "solve",
        ],
        "qa": ["match_residuals", "plot_alignment"],
        "settings": ["FITGEOMETRIES", "STARFINDERS", "DetectionSettings", "FitSettings"],
        "source_finding": ["circular_peaks", "find_sources", "find_sources_sparse", "smoothing_kernel"],
    },
)
