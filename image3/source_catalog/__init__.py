"""The source_catalog step: detection and photometry on the mosaic (single- and multi-band),
aperture corrections, the catalog's files, and the QA figure.

Public names are re-exported here and imported on first use (:mod:`image3._lazy`).
"""

from .._lazy import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "aperture_reference": [
            "ApertureParams",
            "apertures_from_mosaic",
            "point_sources",
            "read_abvega_offset",
            "read_apcorr",
        ],
        "catalog": [
            "AB_ZEROPOINT_JY",
            "abmag",
            "BandImage",
            "local_background",
            "measure",
            "multiband_catalog",
            "nearest_neighbours",
            "segment",
            "single_band_catalog",
            "sky_orientation",
            "source_catalog",
        ],
        "products": [
            "empty_catalog",
            "regions_radius_arcsec",
            "write_catalog",
            "write_catalog_products",
            "write_regions",
        ],
        "qa": ["plot_catalog"],
        "settings": ["MODES", "CatalogSettings", "validate_ee"],
    },
)
