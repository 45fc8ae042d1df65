"""The output grid of a product: a TAN-projected WCS covering the union of the exposures' footprints.

Conventions follow the official resample step: ``crpix`` is 0-based (x, y); ``output_shape`` is (nx,
ny), the official [x, y] order (a Grid's ``shape`` is numpy's (ny, nx)); ``rotation`` is the position
angle of the output +y axis in degrees east of north (0 = north up), and None keeps the orientation of
the first exposure's detector; ``pixel_scale`` is in arcsec and, when given, wins over
``pixel_scale_ratio`` (which is then ignored, with a warning, as the official step ignores it).
"""

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..io.atomic import atomic_path

log = logging.getLogger("image3")

__all__ = [
    "Grid",
    "TanProjection",
    "detector_rotation",
    "grid_from_asdf",
    "ignored_grid_options",
    "make_grid",
    "mean_position",
    "native_pixel_scale",
    "read_grid",
    "tan_wcs",
    "write_grid",
]


@dataclass(frozen=True)
class TanProjection:
    """A gnomonic (TAN) projection: 0-based pixel ``crpix`` (x, y) at sky ``crval`` (RA, Dec deg),
    ``pixel_scale`` arcsec, +y axis at position angle ``rotation`` (deg east of north), east to the
    left of north. The same mapping as :func:`tan_wcs`, in numpy alone."""

    crval: tuple
    crpix: tuple
    pixel_scale: float
    rotation: float

    def _cd(self):
        theta = np.deg2rad(self.rotation)
        s = self.pixel_scale / 3600.0
        return s * np.array([[-np.cos(theta), np.sin(theta)], [np.sin(theta), np.cos(theta)]])

    def world_to_pixel(self, ra, dec):
        """0-based pixel (x, y) of sky positions (deg); NaN on the far hemisphere."""
        a0, d0 = np.deg2rad(self.crval[0]), np.deg2rad(self.crval[1])
        a, d = np.deg2rad(np.asarray(ra, float)), np.deg2rad(np.asarray(dec, float))
        cos_c = np.sin(d) * np.sin(d0) + np.cos(d) * np.cos(d0) * np.cos(a - a0)
        with np.errstate(divide="ignore", invalid="ignore"):
            cos_c = np.where(cos_c > 0, cos_c, np.nan)
            xi = np.rad2deg(np.cos(d) * np.sin(a - a0) / cos_c)
            eta = np.rad2deg((np.sin(d) * np.cos(d0) - np.cos(d) * np.sin(d0) * np.cos(a - a0)) / cos_c)
        (c11, c12), (c21, c22) = np.linalg.inv(self._cd())
        return c11 * xi + c12 * eta + self.crpix[0], c21 * xi + c22 * eta + self.crpix[1]

    def pixel_to_world(self, x, y):
        """Sky positions (RA in [0, 360), Dec; deg) of 0-based pixels (x, y): the inverse of
        :meth:`world_to_pixel`."""
        (c11, c12), (c21, c22) = self._cd()
        dx, dy = np.asarray(x, float) - self.crpix[0], np.asarray(y, float) - self.crpix[1]
        xi, eta = np.deg2rad(c11 * dx + c12 * dy), np.deg2rad(c21 * dx + c22 * dy)
        a0, d0 = np.deg2rad(self.crval[0]), np.deg2rad(self.crval[1])
        denominator = np.cos(d0) - eta * np.sin(d0)
        ra = a0 + np.arctan2(xi, denominator)
        dec = np.arctan2((np.sin(d0) + eta * np.cos(d0)) * np.cos(ra - a0), denominator)
        return np.rad2deg(ra) % 360.0, np.rad2deg(dec)


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


def _sky_offsets_deg(ra, dec):
    """Offsets (east, north; deg) of points 1.. from point 0, on its tangent plane."""
    tan = TanProjection((ra[0], dec[0]), (0.0, 0.0), 3600.0, 0.0)
    x, y = tan.world_to_pixel(ra[1:], dec[1:])
    return -x, y  # pixels of 1 deg with east to the left; x grows west


def native_pixel_scale(wcs, shape) -> float:
    """Pixel scale in arcsec at the detector centre: the square root of the pixel's sky area."""
    x, y = (shape[1] - 1) / 2.0, (shape[0] - 1) / 2.0
    ra, dec = wcs(np.array([x, x + 1, x]), np.array([y, y, y + 1]), with_bounding_box=False)
    east, north = _sky_offsets_deg(ra, dec)
    return float(np.sqrt(abs(east[0] * north[1] - east[1] * north[0])) * 3600.0)


def detector_rotation(wcs, shape) -> float:
    """Position angle (deg east of north) of the detector's +y axis at its centre."""
    x, y = (shape[1] - 1) / 2.0, (shape[0] - 1) / 2.0
    ra, dec = wcs(np.array([x, x]), np.array([y, y + 1]), with_bounding_box=False)
    east, north = _sky_offsets_deg(ra, dec)
    return float(np.rad2deg(np.arctan2(east[0], north[0])) % 360.0)


def tan_wcs(crval, crpix, pixel_scale, rotation, shape):
    """A gwcs TAN projection: 0-based pixel ``crpix`` at sky ``crval`` (deg), scale in arcsec,
    +y axis at position angle ``rotation`` (deg east of north), east to the left of north."""
    from astropy import coordinates as coord
    from astropy import units as u
    from astropy.modeling import models
    from gwcs import WCS
    from gwcs import coordinate_frames as cf

    cd = TanProjection(crval, crpix, pixel_scale, rotation)._cd()
    transform = (
        (models.Shift(-crpix[0]) & models.Shift(-crpix[1]))
        | models.AffineTransformation2D(matrix=cd)
        | models.Pix2Sky_TAN()
        | models.RotateNative2Celestial(crval[0], crval[1], 180.0)
    )
    detector = cf.Frame2D(name="detector", axes_order=(0, 1), unit=(u.pix, u.pix))
    world = cf.CelestialFrame(reference_frame=coord.ICRS(), name="world")
    wcs = WCS([(detector, transform), (world, None)])
    wcs.bounding_box = ((-0.5, shape[1] - 0.5), (-0.5, shape[0] - 0.5))
    wcs.array_shape = tuple(shape)
    return wcs


def mean_position(points) -> tuple:
    """Centre (RA, Dec in deg, RA in [0, 360)) of sky points given as an (n, 2) array of RA, Dec
    in deg: the direction of their mean unit vector, so RA averages correctly across 0/360."""
    ra, dec = np.deg2rad(points[:, 0]), np.deg2rad(points[:, 1])
    x, y, z = (np.mean(np.cos(dec) * np.cos(ra)), np.mean(np.cos(dec) * np.sin(ra)), np.mean(np.sin(dec)))
    return float(np.rad2deg(np.arctan2(y, x)) % 360.0), float(np.rad2deg(np.arctan2(z, np.hypot(x, y))))


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
    from ..wcs.geometry import Geometry

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
