"""The outlier_detection step: single drizzles, their median (written in sections), the blot and
the flags (cosmic rays at single coverage and on sources), and the QA figure.

Re-exports its modules' public names (their ``__all__``), each imported on first use
(:mod:`image3._lazy`).
"""

from .._lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, ("files", "outliers", "qa", "settings", "spikes"))
