"""JWST imaging WCS: the gwcs pipeline built from ``meta.wcsinfo``, its FITS SIP approximation and footprint.

Conventions
-----------
- Detector pixels are 0-based, pixel centres at integers, as in gwcs and the official pipeline; the
  bounding box runs from -0.5 to n - 0.5.
- V2/V3 are in arcsec, sky coordinates in degrees (ICRS).
- The frames are named as in the official pipeline: ``detector -> v2v3 -> v2v3vacorr -> world``, so
  tweakwcs' JWST corrector and other tools that look for these names work on our WCS.
"""

from dataclasses import dataclass

import numpy as np
from astropy import coordinates as coord
from astropy import units as u
from astropy.modeling import fitting, models
from astropy.modeling.rotations import RotationSequence3D
from gwcs import WCS
from gwcs import coordinate_frames as cf
from gwcs.geometry import CartesianToSpherical, SphericalToCartesian

__all__ = [
    "Distortion",
    "footprint",
    "imaging_wcs",
    "Pointing",
    "s_region",
    "SiafDistortion",
    "sip_keywords",
    "v2v3_to_sky",
    "velocity_aberration",
]


@dataclass(frozen=True)
class Pointing:
    """Telescope pointing at the aperture reference point, as in ``meta.wcsinfo``.

    ``v2_ref``/``v3_ref`` in arcsec; ``ra_ref``/``dec_ref`` in degrees (the sky position of the
    reference point); ``roll_ref`` the V3 position angle at the reference point in degrees (east of
    north); ``v3yangle`` the angle of the ideal Y axis from V3 in degrees; ``vparity`` +-1.
    """

    ra_ref: float
    dec_ref: float
    roll_ref: float
    v2_ref: float = 120.6714
    v3_ref: float = -527.3877
    v3yangle: float = -0.5683
    vparity: int = -1
    va_scale: float = 1.0


@dataclass(frozen=True)
class Distortion:
    """A mild polynomial detector distortion.

    ``coeffs_x``/``coeffs_y`` map normalised coordinates ``u = (x - xref) / norm``,
    ``v = (y - yref) / norm`` to a displacement in pixels, keyed by (i, j) for ``u**i v**j``; the
    ideal-frame position in arcsec is ``pixel_scale * (x - xref + dx, y - yref + dy)``.
    """

    pixel_scale: float = 0.0311
    coeffs_x: tuple = ((2, 0, 0.8), (1, 1, -0.5), (0, 2, 0.3), (3, 0, -0.6), (1, 2, 0.4))
    coeffs_y: tuple = ((2, 0, -0.3), (1, 1, 0.7), (0, 2, 0.5), (2, 1, 0.5), (0, 3, -0.7))
    norm: float = 1024.0

    def ideal_models(self, shape):
        """0-based detector pixels -> ideal (arcsec) and back, about the chip centre.

        The inverse is a degree-5 polynomial fitted over the detector plus a 10 % margin; its
        round-trip error is below 1e-4 pixel for the default distortion.
        """
        ny, nx = shape
        xref, yref = (nx - 1) / 2.0, (ny - 1) / 2.0
        s, n = self.pixel_scale, self.norm
        to_ideal = models.Mapping((0, 1, 0, 1)) | (
            _polynomial(self.coeffs_x, s, n, "c1_0") & _polynomial(self.coeffs_y, s, n, "c0_1")
        )
        forward = (models.Shift(-xref) & models.Shift(-yref)) | to_ideal
        return forward, _fitted_inverse(forward, shape, degree=5)


@dataclass(frozen=True)
class SiafDistortion:
    """A detector's SIAF science -> ideal polynomials (``pysiaf``'s ``Sci2IdlX``, ``Sci2IdlY``).

    ``sci2idl_x``/``sci2idl_y`` hold ``(i, j, c)`` for ``c dx**i dy**j`` giving the ideal position in
    arcsec, with ``dx = X - x_sci_ref``, ``dy = Y - y_sci_ref`` in the SIAF's 1-based full-frame
    science pixels ``X, Y``. The inverse is fitted to them (:func:`_fitted_inverse`): the SIAF's own
    ``Idl2Sci`` polynomials miss the forward ones by up to 0.1 pixel at NIRCam's corners, too much for
    a simulator whose truth is the forward model.
    ``origin`` is a subarray's first pixel in 0-based full-frame science pixels (``xstart - 1``,
    ``ystart - 1``), so a subarray's 0-based pixel ``x`` is ``X = x + origin[0] + 1``.
    ``pixel_scale`` is the nominal scale (arcsec) at the reference pixel.
    """

    pixel_scale: float
    x_sci_ref: float
    y_sci_ref: float
    sci2idl_x: tuple
    sci2idl_y: tuple
    origin: tuple = (0, 0)

    def ideal_models(self, shape):
        """0-based (subarray) pixels -> ideal (arcsec) and back."""
        x0 = self.origin[0] + 1.0 - self.x_sci_ref
        y0 = self.origin[1] + 1.0 - self.y_sci_ref
        forward = (
            (models.Shift(x0) & models.Shift(y0))
            | models.Mapping((0, 1, 0, 1))
            | (_siaf_polynomial(self.sci2idl_x) & _siaf_polynomial(self.sci2idl_y))
        )
        return forward, _fitted_inverse(forward, shape)


def _fitted_inverse(to_ideal, shape, degree=6):
    """Polynomial inverse (ideal arcsec -> 0-based pixels) of ``to_ideal``, fitted over the
    detector plus a 10 % margin in ideal coordinates about the chip centre's: round trip below
    1e-4 pixel for the synthetic distortion and NIRCam's short-wave SIAF polynomials, 3e-4 for
    NIRCam's long-wave and 4e-3 (0.4 mas) for MIRI's at their corners."""
    ny, nx = shape
    margin = 0.1 * max(nx, ny)
    gx, gy = np.meshgrid(np.linspace(-margin, nx - 1 + margin, 41), np.linspace(-margin, ny - 1 + margin, 41))
    xi0, eta0 = to_ideal((nx - 1) / 2.0, (ny - 1) / 2.0)
    xi, eta = to_ideal(gx, gy)
    fitter = fitting.LinearLSQFitter()
    fits = [fitter(models.Polynomial2D(degree), xi - xi0, eta - eta0, g) for g in (gx, gy)]
    return (models.Shift(-xi0) & models.Shift(-eta0)) | models.Mapping((0, 1, 0, 1)) | (fits[0] & fits[1])


def _siaf_polynomial(coeffs):
    """Polynomial2D of ``(i, j, c)`` terms ``c x**i y**j``."""
    poly = models.Polynomial2D(max(i + j for i, j, _ in coeffs))
    for i, j, c in coeffs:
        setattr(poly, f"c{i}_{j}", c)
    return poly


def _polynomial(coeffs, pixel_scale, norm, linear):
    """Polynomial2D (degree 3) of pixel offsets giving an ideal coordinate in arcsec."""
    poly = models.Polynomial2D(3)
    values = dict.fromkeys(poly.param_names, 0.0)
    values[linear] = pixel_scale
    for i, j, c in coeffs:
        values[f"c{i}_{j}"] += pixel_scale * c / norm ** (i + j)
    for name, value in values.items():
        setattr(poly, name, value)
    return poly


def _ideal_to_v2v3(pointing: Pointing):
    """Affine transform ideal (arcsec) -> V2/V3 (arcsec), the SIAF convention."""
    theta = np.deg2rad(pointing.v3yangle)
    p = pointing.vparity
    matrix = [[p * np.cos(theta), np.sin(theta)], [-p * np.sin(theta), np.cos(theta)]]
    return models.AffineTransformation2D(
        matrix=matrix, translation=[pointing.v2_ref, pointing.v3_ref], name="ideal_to_v2v3"
    )


def _detector_to_v2v3(shape, pointing: Pointing, distortion):
    """Distortion model: 0-based detector pixels -> V2/V3 in arcsec, with its inverse.

    ``distortion`` is a :class:`Distortion` (the mild synthetic one, inverse fitted) or a
    :class:`SiafDistortion` (a real detector's SIAF polynomials).
    """
    to_ideal, from_ideal = distortion.ideal_models(shape)
    forward = to_ideal | _ideal_to_v2v3(pointing)
    forward.inverse = _ideal_to_v2v3(pointing).inverse | from_ideal
    forward.name = "distortion"
    return forward


def velocity_aberration(pointing: Pointing):
    """V2/V3 -> velocity-aberration-corrected V2/V3: a scale about the reference point."""
    s = pointing.va_scale
    model = (
        (models.Shift(-pointing.v2_ref) & models.Shift(-pointing.v3_ref))
        | (models.Scale(s) & models.Scale(s))
        | (models.Shift(pointing.v2_ref) & models.Shift(pointing.v3_ref))
    )
    model.name = "va_corr"
    return model


def v2v3_to_sky(pointing: Pointing):
    """V2/V3 (arcsec) -> RA/Dec (deg): the rotation that puts (v2_ref, v3_ref) at (ra_ref, dec_ref)
    with the V3 axis at position angle ``roll_ref``."""
    angles = [
        pointing.v2_ref / 3600.0,
        -pointing.v3_ref / 3600.0,
        pointing.roll_ref,
        pointing.dec_ref,
        -pointing.ra_ref,
    ]
    model = (
        (models.Scale(1 / 3600.0) & models.Scale(1 / 3600.0))
        | SphericalToCartesian(wrap_lon_at=180)
        | RotationSequence3D(angles, axes_order="zyxyz")
        | CartesianToSpherical(wrap_lon_at=360)
    )
    model.name = "v23tosky"
    return model


def imaging_wcs(shape, pointing: Pointing, distortion=Distortion()) -> WCS:
    """The JWST imaging gwcs ``detector -> v2v3 -> v2v3vacorr -> world`` with a bounding box
    (``distortion``: a :class:`Distortion` or :class:`SiafDistortion`)."""
    detector = cf.Frame2D(name="detector", axes_order=(0, 1), unit=(u.pix, u.pix))
    v2v3 = cf.Frame2D(name="v2v3", axes_order=(0, 1), axes_names=("v2", "v3"), unit=(u.arcsec, u.arcsec))
    v2v3vacorr = cf.Frame2D(
        name="v2v3vacorr", axes_order=(0, 1), axes_names=("v2", "v3"), unit=(u.arcsec, u.arcsec)
    )
    world = cf.CelestialFrame(reference_frame=coord.ICRS(), name="world")
    wcs = WCS(
        [
            (detector, _detector_to_v2v3(shape, pointing, distortion)),
            (v2v3, velocity_aberration(pointing)),
            (v2v3vacorr, v2v3_to_sky(pointing)),
            (world, None),
        ]
    )
    ny, nx = shape
    wcs.bounding_box = ((-0.5, nx - 0.5), (-0.5, ny - 0.5))
    wcs.array_shape = shape
    return wcs


def footprint(wcs, shape):
    """Sky corners (deg) of the detector's outer pixel edges, as an (4, 2) array of RA, Dec."""
    ny, nx = shape
    x = np.array([-0.5, nx - 0.5, nx - 0.5, -0.5])
    y = np.array([-0.5, -0.5, ny - 0.5, ny - 0.5])
    ra, dec = wcs(x, y, with_bounding_box=False)
    return np.column_stack([ra, dec])


def s_region(wcs, shape) -> str:
    """The ``S_REGION`` keyword: the footprint as an ICRS polygon."""
    corners = " ".join(f"{ra:.9f} {dec:.9f}" for ra, dec in footprint(wcs, shape))
    return f"POLYGON ICRS  {corners}"


def sip_keywords(wcs, shape, max_pix_error=0.01, degree=None, npoints=12) -> dict:
    """FITS SIP approximation of ``wcs`` as lower-case ``meta.wcsinfo`` keys.

    ``max_pix_error`` in pixels; ``degree`` None lets gwcs pick the lowest degree (up to 6) that meets
    it. Keywords the datamodel schema does not know (e.g. ``WCSAXES``-like extras) are skipped by the
    caller.
    """
    ny, nx = shape
    header = wcs.to_fits_sip(
        bounding_box=((-0.5, nx - 0.5), (-0.5, ny - 0.5)),
        max_pix_error=max_pix_error,
        degree=degree,
        max_inv_pix_error=max_pix_error,
        inv_degree=degree,
        npoints=npoints,
    )
    return {key.lower(): header[key] for key in header if key not in ("COMMENT", "HISTORY", "")}
