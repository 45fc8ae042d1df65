"""World coordinates: JWST imaging WCS (gwcs) and distortion, the per-product WCS store, the sampled
geometry of each exposure on the product grid, and pixel maps between grids.

Public names are re-exported here and imported on first use (:mod:`image3._lazy`).
"""

from .._lazy import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "geometry": ["Geometry", "read_geometries", "read_geometry", "write_geometries"],
        "jwst_wcs": [
            "Distortion",
            "footprint",
            "imaging_wcs",
            "Pointing",
            "s_region",
            "SiafDistortion",
            "sip_keywords",
            "v2v3_to_sky",
            "velocity_aberration",
        ],
        "pixmap": ["pixel_map"],
        "store": ["load_wcs_entry", "load_wcs_extras", "load_wcs_set", "save_wcs_set"],
    },
)
