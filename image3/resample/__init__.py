"""The resample step: the product's output grid, the drizzle of the exposures onto it, the ``_i2d``
model, and the preview figure.

Re-exports its modules' public names (their ``__all__``), each imported on first use
(:mod:`image3._lazy`).
"""

from .._lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, ("drizzle", "grid", "i2d", "qa", "settings"))
