"""The tweakreg step: source finding per exposure, relative alignment (tweakwcs and a global fit)
and absolute alignment to a reference catalog, and the alignment's QA.

Re-exports its modules' public names (their ``__all__``), each imported on first use
(:mod:`image3._lazy`).
"""

from .._lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__, ("alignment", "global_fit", "qa", "saturated", "settings", "source_finding")
)
