"""The output grid of a product: a TAN-projected WCS covering the union of the exposures' footprints.

Conventions follow the official resample step: ``crpix`` is 0-based (x, y); ``output_shape`` is (nx,
ny), the official [x, y] order (a Grid's ``shape`` is numpy's (ny, nx)); ``rotation`` is the position
angle of the output +y axis in degrees east of north (0 = north up), and None keeps the orientation of
the first exposure's detector; ``pixel_scale`` is in arcsec and, when given, wins over
``pixel_scale_ratio`` (which is then ignored, with a warning, as the official step ignores it).
"""

import inspect
import json
import logging
from dataclasses import asdict
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..io.atomic import atomic_path
from ..wcs.geometry import Geometry
from ..wcs.tangent_plane import TanProjection, mean_position, native_pixel_scale, tan_wcs

log = logging.getLogger("image3")

__all__ = [
    "Grid",
    "grid_from_asdf",
    "grid_options",
    "ignored_grid_options",
    "make_grid",
    "read_grid",
    "write_grid",
]


class Grid:
    """An output grid: shape (ny, nx), pixel scale (arcsec) and WCS (0-based pixels -> ICRS deg).

    A TAN grid (``tan``) maps the sky to its pixels with numpy alone (:meth:`world_to_pixel`) and
    builds its gwcs (``wcs``) only when asked; a grid from a user's gwcs (``source``: its ASDF file)
    uses that gwcs for both. ``pixel_scale_ratio``: the ratio it was made with (the official
    ``meta.resample.pixel_scale_ratio``), None when its scale was given otherwise (``pixel_scale``,
    ``output_wcs``).
    """

    def __init__(self, wcs, shape, pixel_scale, *, tan=None, source=None, pixel_scale_ratio=None):
        self._wcs = wcs
        self.shape = tuple(int(n) for n in shape)
        self.pixel_scale = float(pixel_scale)
        self.tan = tan
        self.source = source
        self.pixel_scale_ratio = None if pixel_scale_ratio is None else float(pixel_scale_ratio)

    @property
    def wcs(self):
        if self._wcs is None:
            t = self.tan
            self._wcs = tan_wcs(t.crval, t.crpix, t.pixel_scale, t.rotation, self.shape)
        return self._wcs

    def world_to_pixel(self, ra, dec):
        """0-based pixel (x, y) of sky positions in deg."""
        if self.tan is not None:
            return self.tan.world_to_pixel(ra, dec)
        return self.wcs.invert(ra, dec, with_bounding_box=False)


def make_grid(
    exposures,
    pixel_scale=None,
    pixel_scale_ratio=1.0,
    rotation=None,
    crpix=None,
    crval=None,
    output_shape=None,
    max_output_pixels=None,
) -> Grid:
    """The grid covering the union of footprints of ``exposures``: :class:`~image3.wcs.geometry.Geometry`
    objects, or pairs of (gwcs, (ny, nx)) (sampled here). The first sets the default scale and
    orientation. ``pixel_scale`` (arcsec) wins over ``pixel_scale_ratio``, which is then ignored
    with a warning."""
    exposures = [e if isinstance(e, Geometry) else Geometry.from_wcs(*e) for e in exposures]
    ref = exposures[0]
    ratio = pixel_scale_ratio
    if pixel_scale is None:
        pixel_scale = ref.pixel_scale * pixel_scale_ratio
    else:
        ratio = None  # recorded against the inputs' nominal scale (build_i2d)
        if pixel_scale_ratio != 1.0:
            log.warning(
                "resample.pixel_scale_ratio = %s is ignored: resample.pixel_scale = %s arcsec sets "
                "the output pixel scale (as in the official step)",
                pixel_scale_ratio,
                pixel_scale,
            )
    if rotation is None:
        rotation = ref.rotation
    corners = np.vstack([e.footprint for e in exposures])
    if crval is None:
        crval = mean_position(corners)
    # Project the corners with crpix at the origin to find the bounding box in output pixels.
    probe = TanProjection(tuple(crval), (0.0, 0.0), pixel_scale, rotation)
    x, y = probe.world_to_pixel(corners[:, 0], corners[:, 1])
    if output_shape is None:
        nx = int(np.ceil(x.max() - x.min()))
        ny = int(np.ceil(y.max() - y.min()))
        default_crpix = (-x.min() - 0.5, -y.min() - 0.5)
    else:
        nx, ny = (int(n) for n in output_shape)
        default_crpix = ((nx - 1) / 2.0, (ny - 1) / 2.0)
    _check_grid_size((ny, nx), max_output_pixels)
    crpix = default_crpix if crpix is None else tuple(crpix)
    tan = TanProjection(tuple(float(v) for v in crval), tuple(float(v) for v in crpix), pixel_scale, rotation)
    return Grid(None, (ny, nx), pixel_scale, tan=tan, pixel_scale_ratio=ratio)


def grid_options(resample: dict) -> dict:
    """The output-grid options of the ``resample`` config section: :func:`make_grid`'s keyword
    arguments (its signature names them) and ``output_wcs`` (the file :func:`grid_from_asdf` reads
    instead)."""
    names = [name for name in inspect.signature(make_grid).parameters if name != "exposures"]
    return {key: resample[key] for key in ("output_wcs", *names)}


def ignored_grid_options(resample: dict) -> str | None:
    """What an ``output_wcs`` file overrides in the config section ``resample``: a warning naming
    the keys set beside it (``pixel_scale``, ``pixel_scale_ratio`` other than 1, ``rotation``,
    ``crpix``, ``crval``), which are ignored as the official step ignores them; None when none is.
    (``pixel_scale`` with ``pixel_scale_ratio``: see :func:`make_grid`.)"""
    given = [k for k in ("pixel_scale", "rotation", "crpix", "crval") if resample.get(k) is not None]
    if resample.get("pixel_scale_ratio", 1.0) != 1.0:
        given.append("pixel_scale_ratio")
    if not (resample.get("output_wcs") and given):
        return None
    return (
        f"resample.output_wcs = {resample['output_wcs']!r} fixes the output grid: "
        f"{', '.join('resample.' + k for k in given)} ignored (as in the official step)"
    )


def _check_grid_size(shape, max_output_pixels):
    """Refuse an output grid larger than ``max_output_pixels`` (a bad WCS must not allocate TBs)."""
    npix = int(shape[0]) * int(shape[1])
    if max_output_pixels is not None and npix > max_output_pixels:
        raise InputError(
            f"output grid of {shape[1]} x {shape[0]} = {npix:.3g} pixels exceeds "
            f"resample.max_output_pixels = {max_output_pixels:.3g}: check the exposures' WCS "
            "(a wrong pointing or distortion) or the grid options (pixel_scale, output_shape)"
        )


def grid_from_asdf(path, output_shape=None, max_output_pixels=None) -> Grid:
    """A user-supplied output WCS: an ASDF file with a gwcs under ``wcs`` (the official format).

    The shape (ny, nx), in the official order of precedence: ``output_shape`` (nx, ny), else the gwcs's
    own ``array_shape`` (or ``pixel_shape``), else the file's top-level ``array_shape``, else its
    top-level ``pixel_shape`` (nx, ny), else the gwcs's bounding box. The pixel scale (arcsec): the
    file's top-level ``pixel_scale``, else the square root of its ``pixel_area`` (arcsec^2), else
    measured from the gwcs at the grid's centre.
    """
    import asdf

    try:
        with asdf.open(path, lazy_load=False, memmap=False) as af:
            wcs = af["wcs"]
            tree = {k: af.tree.get(k) for k in ("array_shape", "pixel_shape", "pixel_scale", "pixel_area")}
    except (OSError, KeyError, ValueError) as err:
        raise InputError(f"resample.output_wcs: cannot read a gwcs under 'wcs' from {path}: {err}") from None
    shape = _asdf_shape(wcs, tree, output_shape)
    if shape is None:
        raise InputError(
            f"resample.output_wcs: {path} gives no shape (array_shape, pixel_shape or bounding_box); "
            "set resample.output_shape"
        )
    _check_grid_size(shape, max_output_pixels)
    wcs.array_shape = shape
    scale = tree["pixel_scale"] or (np.sqrt(tree["pixel_area"]) if tree["pixel_area"] else None)
    scale = float(scale) if scale else native_pixel_scale(wcs, shape)
    return Grid(wcs, shape, scale, source=str(Path(path).resolve()))


def _asdf_shape(wcs, tree, output_shape):
    """The (ny, nx) of a user's output grid (see :func:`grid_from_asdf`); None when nothing gives it."""
    if output_shape is not None:
        return tuple(int(n) for n in output_shape[::-1])
    if wcs.array_shape is not None:
        return tuple(int(n) for n in wcs.array_shape)
    if tree.get("array_shape") is not None:
        return tuple(int(n) for n in tree["array_shape"])
    if tree.get("pixel_shape") is not None:
        return tuple(int(n) for n in tree["pixel_shape"][::-1])
    if wcs.bounding_box is not None:
        (x0, x1), (y0, y1) = wcs.bounding_box.bounding_box(order="F")
        return (int(np.ceil(y1 - y0)), int(np.ceil(x1 - x0)))
    return None


def write_grid(grid: Grid, path):
    """Save the grid as JSON, atomically: shape, pixel scale and the TAN projection's parameters, or
    the path of the user's gwcs file (``output_wcs``) it came from."""
    tree = {
        "shape": list(grid.shape),
        "pixel_scale": grid.pixel_scale,
        "pixel_scale_ratio": grid.pixel_scale_ratio,
    }
    if grid.tan is not None:
        tree["tan"] = asdict(grid.tan)
    elif grid.source is not None:
        tree["output_wcs"] = grid.source
    else:
        raise ValueError("write_grid: a grid needs a TAN projection or a source file")
    with atomic_path(path) as tmp:
        Path(tmp).write_text(json.dumps(tree, indent=2) + "\n")


def read_grid(path) -> Grid:
    """Load a grid written by :func:`write_grid` (a user's gwcs is read again from its file)."""
    tree = json.loads(Path(path).read_text())
    if "output_wcs" in tree:
        return grid_from_asdf(tree["output_wcs"], tree["shape"])
    tan = tree["tan"]
    projection = TanProjection(tuple(tan["crval"]), tuple(tan["crpix"]), tan["pixel_scale"], tan["rotation"])
    return Grid(
        None,
        tree["shape"],
        tree["pixel_scale"],
        tan=projection,
        pixel_scale_ratio=tree.get("pixel_scale_ratio"),
    )
