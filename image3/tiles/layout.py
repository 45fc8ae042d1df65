"""Sky tiles: a product's output grid cut into overlapping tiles on the same tangent plane.

Each tile is a sub-array of the product grid: its TAN projection is the product's with ``crpix``
shifted by the tile's origin, so tiles line up pixel for pixel with the product grid and with each
other, and combine without resampling (as drizzlepac's sky cells inside a projection cell, or
romancal's sky cells and LSST's patches with their borders).

Layout: the grid is partitioned into *interiors* of ``size - 2 margin`` pixels per side (the last
column and row of tiles take what is left); each tile's array is its interior grown by ``margin``
pixels on every side, clipped to the grid, so it is ``size`` pixels per side away from the grid's
edges. A source belongs to the tile whose interior holds its centroid (:func:`owns`), so a merged
catalog has each source once.

Conventions: pixel indices are 0-based product-grid pixels (x along columns); a range is
``(start, stop)`` with ``stop`` excluded; pixel centres are at integers, so the interior of
columns ``start..stop-1`` spans ``start - 0.5 <= x < stop - 0.5``. Tiles are named
``t<col>-<row>`` (``t0-0`` holds the grid's first pixel); sky positions are ICRS degrees.

This module imports numpy alone (the workflow reads tile indexes with it while it builds the DAG);
:func:`write_tile_index` and :func:`merge_tile_catalogs` import astropy when called.
"""

import csv
import math
import re
from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from ..io.atomic import atomic_path
from ..resample.grid import Grid
from ..wcs.tangent_plane import TanProjection

__all__ = [
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
]

# Drizzle reaches beyond an input pixel's footprint by at most this many output pixels (lanczos3's
# support); the square kernel with pixfrac <= 1 by none.
KERNEL_REACH_PIXELS = 3.0
_NAME = re.compile(r"t(\d+)-(\d+)")


@dataclass(frozen=True)
class Tile:
    """One tile of a product grid of shape ``grid_shape`` (ny, nx): its array covers product pixels
    ``x`` and ``y`` (ranges), and it owns the sources whose centroids lie in its ``interior_x``,
    ``interior_y`` (ranges; the outermost tiles also own what lies beyond the grid's edge)."""

    col: int
    row: int
    x: tuple
    y: tuple
    interior_x: tuple
    interior_y: tuple
    grid_shape: tuple

    @property
    def name(self) -> str:
        return f"t{self.col}-{self.row}"

    @property
    def shape(self) -> tuple:
        """(ny, nx) of the tile's array."""
        return (self.y[1] - self.y[0], self.x[1] - self.x[0])

    @property
    def origin(self) -> tuple:
        """Product-grid pixel (x, y) of the tile's pixel (0, 0)."""
        return (self.x[0], self.y[0])


def check_tile_settings(*, size: int, margin: int):
    """Refuse a tiling whose interiors would be empty: ``size`` must exceed ``2 margin`` pixels."""
    if margin < 0 or size <= 2 * margin:
        raise InputError(
            f"tiles.size = {size} must exceed twice tiles.margin = {margin} (and tiles.margin be >= 0): "
            f"a tile's interior is size - 2 x margin = {size - 2 * margin} pixels per side"
        )


def _counts(shape, size, margin) -> tuple:
    """(columns, rows) of tiles for a grid of ``shape`` (ny, nx)."""
    step = size - 2 * margin
    return math.ceil(shape[1] / step), math.ceil(shape[0] / step)


def check_tile_count(shape, *, size: int, margin: int, max_tiles: int):
    """Refuse a layout of more than ``max_tiles`` tiles (a slip in ``size`` must not make millions
    of jobs)."""
    check_tile_settings(size=size, margin=margin)
    ncols, nrows = _counts(shape, size, margin)
    if ncols * nrows > max_tiles:
        raise InputError(
            f"tiles: the output grid of {shape[1]} x {shape[0]} pixels makes {ncols} x {nrows} = "
            f"{ncols * nrows} tiles of tiles.size = {size} (tiles.margin = {margin}), more than "
            f"tiles.max_tiles = {max_tiles}: raise tiles.size or tiles.max_tiles"
        )


def _tile(col, row, shape, size, margin) -> Tile:
    step = size - 2 * margin
    ny, nx = shape

    def ranges(k, n):
        interior = (k * step, min((k + 1) * step, n))
        return (max(interior[0] - margin, 0), min(interior[1] + margin, n)), interior

    x, interior_x = ranges(col, nx)
    y, interior_y = ranges(row, ny)
    return Tile(col, row, x, y, interior_x, interior_y, (int(ny), int(nx)))


def tile_layout(shape, *, size: int, margin: int) -> list:
    """Every tile of a grid of ``shape`` (ny, nx), row by row from ``t0-0``."""
    check_tile_settings(size=size, margin=margin)
    ncols, nrows = _counts(shape, size, margin)
    return [_tile(c, r, shape, size, margin) for r in range(nrows) for c in range(ncols)]


def tile_named(shape, name: str, *, size: int, margin: int) -> Tile:
    """The tile ``name`` (``t<col>-<row>``) of a grid of ``shape`` (ny, nx)."""
    check_tile_settings(size=size, margin=margin)
    match = _NAME.fullmatch(name)
    ncols, nrows = _counts(shape, size, margin)
    if match is None or int(match[1]) >= ncols or int(match[2]) >= nrows:
        raise InputError(f"no tile {name!r} in a layout of {ncols} x {nrows} tiles")
    return _tile(int(match[1]), int(match[2]), shape, size, margin)


def owns(tile: Tile, x, y) -> np.ndarray:
    """Whether each product-grid position (x, y) lies in the tile's interior: exactly one tile of
    a layout owns any position (beyond the grid's edges, the outermost tile)."""
    ny, nx = tile.grid_shape

    def inside(v, interior, n):
        low = interior[0] - 0.5 if interior[0] > 0 else -np.inf
        high = interior[1] - 0.5 if interior[1] < n else np.inf
        return (v >= low) & (v < high)

    x, y = np.asarray(x, float), np.asarray(y, float)
    return inside(x, tile.interior_x, nx) & inside(y, tile.interior_y, ny)


def tile_grid(grid: Grid, tile: Tile) -> Grid:
    """The tile's own grid: the product's TAN projection with ``crpix`` shifted by the tile's
    origin, and the tile's shape."""
    if grid.tan is None:
        raise InputError("tiles need a TAN output grid (not resample.output_wcs)")
    t = grid.tan
    crpix = (t.crpix[0] - tile.origin[0], t.crpix[1] - tile.origin[1])
    return Grid(
        None, tile.shape, grid.pixel_scale, tan=TanProjection(t.crval, crpix, t.pixel_scale, t.rotation)
    )


def tile_footprint(grid: Grid, tile: Tile) -> np.ndarray:
    """(4, 2) RA, Dec (deg) of the tile array's outer pixel edges, counter-clockwise from (x0, y0)."""
    (x0, x1), (y0, y1) = tile.x, tile.y
    x = np.array([x0, x1, x1, x0], float) - 0.5
    y = np.array([y0, y0, y1, y1], float) - 0.5
    return np.column_stack(grid.tan.pixel_to_world(x, y))


def exposure_outline(geometry, grid: Grid) -> np.ndarray:
    """(n, 2) convex hull (counter-clockwise) of an exposure's pixel centres in product-grid
    pixels, from its geometry's coarse nodes (which include the detector's last row and column)."""
    from scipy.spatial import ConvexHull

    x, y = grid.world_to_pixel(geometry.ra.ravel(), geometry.dec.ravel())
    points = np.column_stack([x, y])
    points = points[np.isfinite(points).all(axis=1)]
    return points[ConvexHull(points).vertices]


def _separated(a, b) -> bool:
    """Whether two convex polygons ((n, 2) vertices in order) do not intersect (separating axes)."""
    for poly in (a, b):
        edges = np.roll(poly, -1, axis=0) - poly
        for nx, ny in edges:
            normal = np.array([-ny, nx])
            pa, pb = a @ normal, b @ normal
            if pa.max() < pb.min() or pb.max() < pa.min():
                return True
    return False


def overlapping_exposures(outlines: dict, input_pixels: dict, tile: Tile) -> list:
    """Names of the exposures (``outlines``: name -> :func:`exposure_outline`) that can put flux
    into the tile, in the order given.

    An exposure overlaps when its outline comes within ``input_pixels[name]`` (the size of its
    pixel in output pixels: half a pixel beyond its outer pixel centres, and room for distortion
    between nodes) plus :data:`KERNEL_REACH_PIXELS` of the tile's array: conservative, so a tile
    reads every exposure that touches it and perhaps one that adds nothing.
    """
    (x0, x1), (y0, y1) = tile.x, tile.y
    names = []
    for name, outline in outlines.items():
        pad = input_pixels[name] + KERNEL_REACH_PIXELS
        low_x, high_x, low_y, high_y = x0 - 0.5 - pad, x1 - 0.5 + pad, y0 - 0.5 - pad, y1 - 0.5 + pad
        box = np.array([[low_x, low_y], [high_x, low_y], [high_x, high_y], [low_x, high_y]])
        if not _separated(outline, box):
            names.append(name)
    return names


def write_tile_index(path, grid: Grid, tiles: list, exposures: dict, *, size: int, margin: int):
    """The tile index (ECSV, atomically): per tile its ``name``, ``col``, ``row``, the product-grid
    pixel ranges of its array (``x_start``, ``x_stop``, ``y_start``, ``y_stop``) and interior
    (``interior_*``), its ``footprint`` on the sky ((4, 2) RA, Dec deg), ``n_exposures`` and the
    ``exposures`` it reads (``exposures``: tile name -> names; comma-separated)."""
    from astropy.table import Table

    table = Table()
    table["name"] = [t.name for t in tiles]
    table["col"] = [t.col for t in tiles]
    table["row"] = [t.row for t in tiles]
    for key in ("x", "y", "interior_x", "interior_y"):
        table[f"{key}_start"] = np.array([getattr(t, key)[0] for t in tiles], int)
        table[f"{key}_stop"] = np.array([getattr(t, key)[1] for t in tiles], int)
    table["footprint"] = np.array([tile_footprint(grid, t) for t in tiles]).reshape(len(tiles), 4, 2)
    table["footprint"].unit = "deg"
    table["n_exposures"] = [len(exposures[t.name]) for t in tiles]
    table["exposures"] = [",".join(exposures[t.name]) for t in tiles]
    table.meta.update({"grid_shape": list(grid.shape), "size": size, "margin": margin})
    with atomic_path(path) as tmp:
        table.write(tmp, format="ascii.ecsv", overwrite=True)


def read_tile_index(path) -> dict:
    """{tile name: [exposure names]} of a tile index, in its order, read with the csv module alone
    (ECSV: a commented header, then space-separated rows with a header line)."""
    with open(path, newline="") as f:
        rows = csv.reader((line for line in f if not line.startswith("#")), delimiter=" ")
        header = next(rows)
        name, exposures = header.index("name"), header.index("exposures")
        return {row[name]: row[exposures].split(",") for row in rows if row}


def merge_tile_catalogs(tables: dict, tiles: dict):
    """One catalog of a tiled product from its tiles' catalogs, each source once.

    ``tables`` maps tile names to the tiles' catalogs (QTables in tile pixels); ``tiles`` names to
    :class:`Tile`. Each tile keeps the sources whose centroids its interior holds; positions become
    product-grid pixels; ``label`` is renumbered 1..n (tile by tile), ``tile`` and ``tile_label``
    name the source's tile and its label there (its segment in the tile's ``_segm.fits``);
    ``nn_label`` and ``nn_dist`` are recomputed over the merged catalog. Each tile's metadata
    (apertures, Vega offset) is kept under its name.
    """
    from astropy import units as u
    from astropy.table import QTable, vstack

    from ..source_catalog.catalog import nearest_neighbours

    kept = []
    meta = {}
    for name, table in tables.items():
        tile = tiles[name]
        meta[name] = dict(table.meta)
        if len(table) == 0:
            continue
        x = np.asarray(table["xcentroid"].value) + tile.origin[0]
        y = np.asarray(table["ycentroid"].value) + tile.origin[1]
        mine = table[owns(tile, x, y)]
        mine["xcentroid"] = (np.asarray(mine["xcentroid"].value) + tile.origin[0]) * u.pix
        mine["ycentroid"] = (np.asarray(mine["ycentroid"].value) + tile.origin[1]) * u.pix
        mine.add_column(np.full(len(mine), name), name="tile", index=1)  # str even when empty
        mine.add_column(np.asarray(mine["label"]), name="tile_label", index=2)
        kept.append(mine)
    if not kept:
        table = QTable(
            names=("label", "tile", "tile_label", "xcentroid", "ycentroid"),
            dtype=(int, str, int, float, float),
        )
    else:
        table = vstack(kept, metadata_conflicts="silent")
        table["label"] = np.arange(1, len(table) + 1)
        if "nn_label" in table.colnames:
            positions = np.column_stack([table["xcentroid"].value, table["ycentroid"].value])
            nn_label, nn_dist = nearest_neighbours(table["label"], positions)
            table["nn_label"], table["nn_dist"] = nn_label, nn_dist * u.pix
    table.meta.clear()
    table.meta.update(meta)
    return table
