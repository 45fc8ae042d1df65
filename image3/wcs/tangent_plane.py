"""Plain tangent-plane geometry on the sky: the gnomonic (TAN) projection in numpy and as a gwcs,
a WCS's pixel scale and orientation at the detector's centre, and the mean of sky positions.

Conventions: 0-based pixels (x, y); RA, Dec in deg (ICRS); pixel scales in arcsec; a rotation is
the position angle of the +y axis in deg east of north, east to the left of north. Every step
that needs a grid or a footprint uses these (resample's output grid, skymatch's sky cells, the
moving target's mean position, tiles); they import nothing of the steps.
"""

from dataclasses import dataclass

import numpy as np

__all__ = ["TanProjection", "detector_rotation", "mean_position", "native_pixel_scale", "tan_wcs"]


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
