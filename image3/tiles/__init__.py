"""Survey tiles: the layout of a product's grid in tiles, which exposures reach each tile, the tile
index and the merged catalog, and the layout's figure.

Public names are re-exported here and imported on first use (:mod:`image3._lazy`).
"""

from .._lazy import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "layout": [
            "Tile",
            "check_tile_count",
            "check_tile_settings",
            "exposure_outline",
            "merge_tile_catalogs",
            "overlapping_exposures",
            "owns",
            "read_tile_index",
            "tile_footprint",
            "tile_grid",
            "tile_layout",
            "tile_named",
            "write_tile_index",
        ],
        "qa": ["plot_tiles"],
    },
)
