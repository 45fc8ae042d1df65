"""The source_catalog step: detection and photometry on the mosaic (single- and multi-band),
aperture corrections and their reference files from CRDS, the catalog's files, and the QA figure.

Re-exports its modules' public names (their ``__all__``), each imported on first use
(:mod:`image3._lazy`).
"""

from .._lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__, ("aperture_reference", "catalog", "crds_refs", "products", "qa", "saturation", "settings")
)
