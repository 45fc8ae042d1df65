"""Reading and writing the workflow's files: associations, level-2b exposures (lean FITS reads and
datamodels), DQ bits, atomic writes and the metadata every product records (the software that made
it, the official blend of its inputs' headers).

Re-exports its modules' public names (their ``__all__``), each imported on first use
(:mod:`image3._lazy`).
"""

from .._lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    (
        "association",
        "atomic",
        "blend",
        "dq",
        "exposure_groups",
        "fits_read",
        "level2b",
        "members",
        "product_meta",
        "provenance",
        "scan_cache",
    ),
)
