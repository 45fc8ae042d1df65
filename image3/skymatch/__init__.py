"""The skymatch step: sky statistics on a cell grid, matched levels between overlapping exposures,
the per-exposure sky file, and the QA figure.

Re-exports its modules' public names (their ``__all__``), each imported on first use
(:mod:`image3._lazy`).
"""

from .._lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__, ("cells", "levels", "qa", "settings", "sky", "statistics", "store", "suffix")
)
