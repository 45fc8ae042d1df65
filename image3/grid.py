"""The output grid of a product: a TAN-projected WCS covering the union of the exposures' footprints.

Conventions follow the official resample step: ``crpix`` is 0-based (x, y); ``output_shape`` is in
numpy order (ny, nx); ``rotation`` is the position angle of the output +y axis in degrees east of
north (0 = north up), and None keeps the orientation of the first exposure's detector;
``pixel_scale`` is in arcsec and, when given, wins over ``pixel_scale_ratio``.
"""

from dataclasses import dataclass

import asdf
import numpy as np
from astropy import coordinates as coord
from astropy import units as u
from astropy.modeling import models
from gwcs import WCS
from gwcs import coordinate_frames as cf

from .atomic import atomic_path
from .errors import InputError
from .jwst_wcs import footprint


@dataclass(frozen=True)
class Grid:
    """Output WCS (0-based pixels -> ICRS deg) and shape (ny, nx); ``pixel_scale`` in arcsec."""

    wcs: WCS
    shape: tuple
    pixel_scale: float


def native_pixel_scale(wcs, shape) -> float:
    """Pixel scale in arcsec at the detector centre: the square root of the pixel's sky area."""
    x, y = (shape[1] - 1) / 2.0, (shape[0] - 1) / 2.0
    ra, dec = wcs(np.array([x, x + 1, x]), np.array([y, y, y + 1]), with_bounding_box=False)
    c = coord.SkyCoord(ra, dec, unit="deg")
    dx = c[0].spherical_offsets_to(c[1])
    dy = c[0].spherical_offsets_to(c[2])
    area = abs(dx[0].arcsec * dy[1].arcsec - dx[1].arcsec * dy[0].arcsec)
    return float(np.sqrt(area))


def detector_rotation(wcs, shape) -> float:
    """Position angle (deg east of north) of the detector's +y axis at its centre."""
    x, y = (shape[1] - 1) / 2.0, (shape[0] - 1) / 2.0
    ra, dec = wcs(np.array([x, x]), np.array([y, y + 1]), with_bounding_box=False)
    c = coord.SkyCoord(ra, dec, unit="deg")
    return float(c[0].position_angle(c[1]).deg)


def tan_wcs(crval, crpix, pixel_scale, rotation, shape) -> WCS:
    """A gwcs TAN projection: 0-based pixel ``crpix`` at sky ``crval`` (deg), scale in arcsec,
    +y axis at position angle ``rotation`` (deg east of north), east to the left of north."""
    theta = np.deg2rad(rotation)
    s = pixel_scale / 3600.0
    cd = s * np.array([[-np.cos(theta), np.sin(theta)], [np.sin(theta), np.cos(theta)]])
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
    c = coord.SkyCoord(points[:, 0], points[:, 1], unit="deg").cartesian
    mean = coord.CartesianRepresentation(c.x.mean(), c.y.mean(), c.z.mean())
    sph = coord.SkyCoord(mean, frame="icrs").spherical
    return float(sph.lon.deg), float(sph.lat.deg)


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
    """The grid covering the union of footprints of ``exposures`` (pairs of gwcs and (ny, nx))."""
    exposures = list(exposures)
    ref_wcs, ref_shape = exposures[0]
    if pixel_scale is None:
        pixel_scale = native_pixel_scale(ref_wcs, ref_shape) * pixel_scale_ratio
    if rotation is None:
        rotation = detector_rotation(ref_wcs, ref_shape)
    corners = np.vstack([footprint(w, s) for w, s in exposures])
    if crval is None:
        crval = mean_position(corners)
    # Project the corners with crpix at the origin to find the bounding box in output pixels.
    probe = tan_wcs(crval, (0.0, 0.0), pixel_scale, rotation, (1, 1))
    x, y = probe.invert(corners[:, 0], corners[:, 1], with_bounding_box=False)
    if output_shape is None:
        nx = int(np.ceil(x.max() - x.min()))
        ny = int(np.ceil(y.max() - y.min()))
        default_crpix = (-x.min() - 0.5, -y.min() - 0.5)
    else:
        ny, nx = (int(n) for n in output_shape)
        default_crpix = ((nx - 1) / 2.0, (ny - 1) / 2.0)
    check_grid_size((ny, nx), max_output_pixels)
    crpix = default_crpix if crpix is None else tuple(crpix)
    return Grid(tan_wcs(crval, crpix, pixel_scale, rotation, (ny, nx)), (ny, nx), pixel_scale)


def check_grid_size(shape, max_output_pixels):
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

    The shape comes from ``output_shape`` (ny, nx), else the WCS's ``array_shape``, else its
    bounding box.
    """
    try:
        with asdf.open(path, lazy_load=False, memmap=False) as af:
            wcs = af["wcs"]
    except (OSError, KeyError, ValueError) as err:
        raise InputError(f"resample.output_wcs: cannot read a gwcs under 'wcs' from {path}: {err}") from None
    if output_shape is not None:
        shape = tuple(int(n) for n in output_shape)
    elif wcs.array_shape is not None:
        shape = tuple(wcs.array_shape)
    elif wcs.bounding_box is not None:
        (x0, x1), (y0, y1) = wcs.bounding_box.bounding_box(order="F")
        shape = (int(np.ceil(y1 - y0)), int(np.ceil(x1 - x0)))
    else:
        raise InputError(
            f"resample.output_wcs: {path} gives no shape (array_shape or bounding_box); "
            "set resample.output_shape"
        )
    check_grid_size(shape, max_output_pixels)
    wcs.array_shape = shape
    return Grid(wcs, shape, native_pixel_scale(wcs, shape))


def write_grid(grid: Grid, path):
    """Save the grid (gwcs, shape, pixel scale) as ASDF, atomically."""
    tree = {"wcs": grid.wcs, "shape": list(grid.shape), "pixel_scale": grid.pixel_scale}
    with atomic_path(path) as tmp:
        asdf.AsdfFile(tree).write_to(tmp)


def read_grid(path) -> Grid:
    """Load a grid written by :func:`write_grid`."""
    with asdf.open(path, lazy_load=False, memmap=False) as af:
        return Grid(af["wcs"], tuple(af["shape"]), float(af["pixel_scale"]))
