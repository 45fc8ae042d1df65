"""The assign_mtwcs step: moving-target WCS, every exposure re-referenced to the target's mean
position.

Re-exports its modules' public names (their ``__all__``), each imported on first use
(:mod:`image3._lazy`).
"""

from .._lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, ("moving_target",))
