"""Survey tiles: whether a product is tiled without the user asking (tiles.size auto), the layout of
a product's grid in tiles, which exposures reach each tile, the tile index and the merged catalog,
and the layout's figure.

Re-exports its modules' public names (their ``__all__``), each imported on first use
(:mod:`image3._lazy`).
"""

from .._lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, ("auto", "layout", "qa"))
