"""The assign_mtwcs step: moving-target WCS, every exposure re-referenced to the target's mean
position.

Public names are re-exported here and imported on first use (:mod:`image3._lazy`).
"""

from .._lazy import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "moving_target": ["MOVING_FRAME", "mean_target_position", "moving_target_wcs_set"],
    },
)
