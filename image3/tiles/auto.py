"""Tiles without the user asking (``tiles.size: auto``): whether a product's output grid is large
enough to tile, decided when the workflow loads, since the tiles are jobs of the DAG and the grid
itself is a job's output (after alignment).

The grid's pixel count is estimated from the members' headers as
:func:`image3.resample.grid.make_grid` will build the grid: the bounding box of every member's
footprint corners on a TAN projection at their mean position, at the first member's pixel scale
(``sqrt(PIXAR_A2)``) times ``pixel_scale_ratio`` (or at ``pixel_scale``), with its +y axis at
``rotation`` or along the first member's detector axes. The footprints are the nominal ones
(``S_REGION``, the ICRS polygon of the detector's outer pixel edges that level-2b files carry in
their SCI header): alignment moves them by the pointing errors (tenths of an arcsec) and their edges
are straight lines between the corners, so the estimate is off by 1-2 % in pixels (the small demo:
484 x 539 for a grid of 476 x 541), enough to decide whether a product is larger than one job
should hold. A moving target's grid follows the target: the fixed-sky union estimated here
also spans its track (an over-estimate; tiling then costs a few more jobs, never memory). With
``resample.output_shape`` the pixel count is exact.

A product above ``tiles.auto_pixels`` output pixels is cut into tiles of :func:`auto_tile_size`
pixels per side (margins included), so no mosaic job, tile or whole mosaic, holds more pixels than
that. This module imports numpy alone (the workflow imports it when it loads).
"""

import math
from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from ..wcs.tangent_plane import TanProjection, mean_position

__all__ = [
    "AutoTiling",
    "auto_tile_size",
    "auto_tiling",
    "check_auto_settings",
    "estimate_grid_shape",
    "parse_s_region",
]


def auto_tile_size(auto_pixels: int) -> int:
    """Pixels per side of an automatic tile: the side of the largest square of at most ``auto_pixels``
    pixels."""
    return math.isqrt(auto_pixels)


def check_auto_settings(*, auto_pixels: int, margin: int):
    """Refuse an ``auto_pixels`` whose tiles would have empty interiors (side not above ``2 margin``)."""
    side = auto_tile_size(auto_pixels)
    if side <= 2 * margin:
        raise InputError(
            f"tiles.auto_pixels = {auto_pixels} makes automatic tiles of {side} pixels per side (its "
            f"square root), which must exceed twice tiles.margin = {margin}: raise tiles.auto_pixels "
            f"to at least {(2 * margin + 1) ** 2} or lower tiles.margin"
        )


def parse_s_region(text) -> np.ndarray | None:
    """(n, 2) RA, Dec (deg) of an ``S_REGION`` polygon (``POLYGON [frame] ra1 dec1 ra2 dec2 ...``,
    at least 3 vertices); None for anything else (no keyword, another shape, unreadable numbers)."""
    words = str(text or "").split()
    if not words or words[0].upper() != "POLYGON":
        return None
    numbers = words[2:] if len(words) > 1 and words[1].isalpha() else words[1:]
    try:
        values = np.array(numbers, float)
    except ValueError:
        return None
    if values.size < 6 or values.size % 2 or not np.isfinite(values).all():
        return None
    return values.reshape(-1, 2)


def _edge_angle(footprint) -> float:
    """Position angle (deg east of north) of a footprint's edge from its first vertex to its last:
    the detector's +y axis in the order of :func:`image3.wcs.jwst_wcs.footprint` (the official
    order may differ by a multiple of 90 degrees, which leaves a bounding box's pixel count
    unchanged)."""
    (ra0, dec0), (ra1, dec1) = footprint[0], footprint[-1]
    x, y = TanProjection((ra0, dec0), (0.0, 0.0), 3600.0, 0.0).world_to_pixel(ra1, dec1)
    return float(np.rad2deg(np.arctan2(-x, y)))  # pixels of 1 deg, east to the left (x grows west)


def estimate_grid_shape(footprints, pixel_scale: float, rotation=None) -> tuple:
    """(ny, nx) of the TAN grid bounding ``footprints`` ((n, 2) RA, Dec deg each) centred on their
    corners' mean position (as ``make_grid``): ``pixel_scale`` arcsec, +y axis at position angle
    ``rotation`` (deg east of north; None: the first footprint's edge from its first vertex to its
    last)."""
    corners = np.vstack(footprints)
    rotation = _edge_angle(footprints[0]) if rotation is None else rotation
    probe = TanProjection(mean_position(corners), (0.0, 0.0), pixel_scale, rotation)
    x, y = probe.world_to_pixel(corners[:, 0], corners[:, 1])
    return int(np.ceil(np.ptp(y))), int(np.ceil(np.ptp(x)))


@dataclass(frozen=True)
class AutoTiling:
    """The decision for one product: ``tiled`` or not, and ``message``, the line the workflow
    prints about it when it loads (None: nothing to say, a product below the threshold)."""

    tiled: bool
    message: str | None = None


def _grid_shape(scans: dict, resample: dict):
    """(shape (ny, nx), how it is known) of a product's grid, or (None, why it is not)."""
    if resample["output_shape"] is not None:  # [nx, ny], the official order
        return tuple(resample["output_shape"][::-1]), "resample.output_shape"
    footprints = [parse_s_region(scan.sci.get("S_REGION")) for scan in scans.values()]
    if lacking := [path for path, f in zip(scans, footprints, strict=True) if f is None]:
        return None, f"{lacking[0]} has no S_REGION polygon in its SCI header"
    first, scan = next(iter(scans.items()))
    area = scan.sci.get("PIXAR_A2")
    if not isinstance(area, (int, float)) or area <= 0:
        return None, f"{first} has no PIXAR_A2 (pixel area) in its SCI header"
    scale = resample["pixel_scale"] or math.sqrt(area) * resample["pixel_scale_ratio"]
    return estimate_grid_shape(
        footprints, scale, resample["rotation"]
    ), "estimated from its members' S_REGION"


def auto_tiling(name: str, scans: dict, resample: dict, *, auto_pixels: int, multiband: bool) -> AutoTiling:
    """Whether ``tiles.size: auto`` tiles product ``name``: when its grid has more than
    ``auto_pixels`` pixels, unless ``multiband`` (a common grid for several products, whose
    multi-band catalog is made from whole mosaics) or ``resample.output_wcs`` (tiles need a TAN
    grid) keeps it one mosaic. ``scans``: its members' header scans ({path: HeaderScan} with
    S_REGION and PIXAR_A2, as ``image3.io.members`` scans them); ``resample``: the config section."""
    if resample["output_wcs"]:
        return AutoTiling(False)
    shape, how = _grid_shape(scans, resample)
    if shape is None:
        return AutoTiling(
            False,
            f"product {name}: its grid's size is not known when the workflow loads ({how}): "
            "tiles.size auto leaves it one mosaic (tiles.size > 0 tiles it)",
        )
    if shape[0] * shape[1] <= auto_pixels:
        return AutoTiling(False)
    grid = f"grid {shape[1]} x {shape[0]} pixels ({how}) > tiles.auto_pixels {auto_pixels}"
    if multiband:
        return AutoTiling(
            False,
            f"product {name}: {grid}, left one mosaic: with resample.grid common and several products "
            "the multi-band catalog is made from whole mosaics",
        )
    return AutoTiling(
        True,
        f"product {name}: {grid}: tiled in {auto_tile_size(auto_pixels)}-pixel tiles "
        "(tiles.size: 0 forces one mosaic)",
    )
