"""The exposure-level ``_crf`` products: each level-2b file with the final WCS, sky and outlier DQ.

Re-exports its modules' public names (their ``__all__``), each imported on first use
(:mod:`image3._lazy`).
"""

from .._lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, ("crf",))
