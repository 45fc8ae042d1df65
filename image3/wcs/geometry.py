"""An exposure's WCS sampled on a coarse grid of pixel nodes: all that drizzling and blotting need.

Evaluating a JWST gwcs needs ``gwcs`` (about a second to import) and the whole WCS set of a product;
the pixel map of an exposure onto a TAN output grid needs only the sky positions of the nodes
(every ``step`` pixels, as :mod:`image3.wcs.pixmap` evaluates them), projected onto the grid and
splined to every pixel. The per-product geometry file holds them for every exposure (``.npz``:
numpy alone reads it, and only the members asked for), written once after alignment.

Conventions: pixels 0-based (x, y), sky in ICRS degrees, ``pixel_scale`` in arcsec, ``rotation``
the position angle of the detector's +y axis (deg east of north).
"""

from dataclasses import dataclass, fields

import numpy as np

from ..errors import InputError
from ..io.atomic import atomic_path
from ._interp import coarse_nodes, spline_to_pixels
from .tangent_plane import detector_rotation, native_pixel_scale

__all__ = ["Geometry", "read_geometries", "read_geometry", "write_geometries"]


@dataclass(frozen=True)
class Geometry:
    """Sky positions of an exposure's coarse pixel nodes, its footprint and nominal scale.

    ``xs``/``ys`` are the node coordinates; ``ra``/``dec`` (len(ys), len(xs)) their sky positions;
    ``footprint`` the (4, 2) RA, Dec of the detector's outer pixel edges; ``shape`` (ny, nx).
    """

    shape: tuple
    xs: np.ndarray
    ys: np.ndarray
    ra: np.ndarray
    dec: np.ndarray
    footprint: np.ndarray
    pixel_scale: float
    rotation: float

    @classmethod
    def from_wcs(cls, wcs, shape, step=16):
        """Sample ``wcs`` (0-based pixels -> ICRS deg, e.g. a gwcs) every ``step`` pixels."""
        from .jwst_wcs import footprint

        xs, ys = coarse_nodes(shape, step)
        gx, gy = np.meshgrid(xs, ys)
        ra, dec = wcs(gx, gy, with_bounding_box=False)
        return cls(
            shape=tuple(int(n) for n in shape),
            xs=xs,
            ys=ys,
            ra=np.asarray(ra, float),
            dec=np.asarray(dec, float),
            footprint=footprint(wcs, shape),
            pixel_scale=native_pixel_scale(wcs, shape),
            rotation=detector_rotation(wcs, shape),
        )

    def pixel_map(self, world_to_pixel) -> np.ndarray:
        """Positions (0-based x, y) of every pixel in the pixels of ``world_to_pixel(ra, dec)``
        (e.g. :meth:`image3.resample.grid.Grid.world_to_pixel`): (ny, nx, 2) float64, as drizzle takes it."""
        x, y = world_to_pixel(self.ra, self.dec)
        return np.dstack(spline_to_pixels(self.xs, self.ys, (x, y), self.shape))


_FIELDS = [f.name for f in fields(Geometry)]


def write_geometries(path, geometries: dict):
    """Save ``{exposure: Geometry}`` to one ``.npz`` file, atomically."""
    arrays = {
        f"{name}:{field}": np.asarray(getattr(g, field))
        for name, g in geometries.items()
        for field in _FIELDS
    }
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)


def read_geometry(path, exposure) -> Geometry:
    """The Geometry of ``exposure`` from a file of :func:`write_geometries` (reads only its arrays)."""
    with np.load(path) as npz:
        if f"{exposure}:shape" not in npz.files:
            raise InputError(f"{path}: no geometry for exposure {exposure}")
        values = {field: npz[f"{exposure}:{field}"] for field in _FIELDS}
    values["shape"] = tuple(int(n) for n in values["shape"])
    values["pixel_scale"] = float(values["pixel_scale"])
    values["rotation"] = float(values["rotation"])
    return Geometry(**values)


def read_geometries(path) -> dict:
    """Every ``{exposure: Geometry}`` of a file of :func:`write_geometries`, in the order written."""
    with np.load(path) as npz:
        names = [key.removesuffix(":shape") for key in npz.files if key.endswith(":shape")]
    return {name: read_geometry(path, name) for name in names}
