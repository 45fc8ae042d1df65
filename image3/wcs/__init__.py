"""World coordinates: JWST imaging WCS (gwcs) and distortion, the per-product WCS store, the sampled
geometry of each exposure on the product grid, pixel maps between grids, and the plain
tangent-plane geometry (TAN projection, pixel scale, orientation, mean position) every step uses.

Re-exports its modules' public names (their ``__all__``), each imported on first use
(:mod:`image3._lazy`).
"""

from .._lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, ("geometry", "jwst_wcs", "pixmap", "store", "tangent_plane"))
