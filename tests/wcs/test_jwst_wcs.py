"""The JWST-style imaging gwcs: frames, reference point, roll, inverse, SIP header and footprint."""

import numpy as np
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.wcs import WCS as FitsWCS

from image3.wcs.jwst_wcs import Pointing, footprint, imaging_wcs, s_region, sip_keywords

POINTING = Pointing(ra_ref=53.16, dec_ref=-27.8, roll_ref=30.0)
SHAPE = (512, 640)


def test_frames_are_the_official_ones():
    wcs = imaging_wcs(SHAPE, POINTING)
    assert wcs.available_frames == ["detector", "v2v3", "v2v3vacorr", "world"]
    assert wcs.bounding_box.bounding_box(order="F") == ((-0.5, 639.5), (-0.5, 511.5))


def test_reference_point_and_roll():
    """(v2_ref, v3_ref) lands on (ra_ref, dec_ref) and the +V3 axis points at PA roll_ref."""
    wcs = imaging_wcs(SHAPE, POINTING)
    to_sky = wcs.get_transform("v2v3", "world")
    ra, dec = to_sky(POINTING.v2_ref, POINTING.v3_ref)
    assert np.hypot((ra - 53.16) * np.cos(np.deg2rad(dec)), dec + 27.8) * 3600 < 1e-6
    ref = SkyCoord(ra, dec, unit="deg")
    up = SkyCoord(*to_sky(POINTING.v2_ref, POINTING.v3_ref + 20.0), unit="deg")
    assert abs(ref.position_angle(up).deg - 30.0) < 1e-6


def test_distortion_is_mild_and_inverse_is_accurate():
    wcs = imaging_wcs(SHAPE, POINTING)
    y, x = np.mgrid[0:512:9, 0:640:9].astype(float)
    ra, dec = wcs(x, y)
    xb, yb = wcs.invert(ra, dec)
    assert np.abs(xb - x).max() < 1e-4 and np.abs(yb - y).max() < 1e-4
    # Pixel scale about 0.031 arcsec everywhere, varying by under 1 % (mild distortion).
    c0 = SkyCoord(ra[:, :-1], dec[:, :-1], unit="deg")
    c1 = SkyCoord(ra[:, 1:], dec[:, 1:], unit="deg")
    scale = c0.separation(c1).arcsec / 9
    assert 0.030 < scale.min() and scale.max() < 0.032
    assert scale.max() / scale.min() - 1 > 1e-4  # there is a distortion at all


def test_sip_header_reproduces_the_gwcs():
    wcs = imaging_wcs(SHAPE, POINTING)
    header = fits.Header({k.upper(): v for k, v in sip_keywords(wcs, SHAPE).items()})
    fits_wcs = FitsWCS(header)
    y, x = np.mgrid[0:512:13, 0:640:13].astype(float)
    ra, dec = wcs(x, y)
    xf, yf = fits_wcs.all_world2pix(ra, dec, 0)
    assert np.hypot(xf - x, yf - y).max() < 0.01
    assert header["CTYPE1"] == "RA---TAN-SIP"


def test_footprint_and_s_region():
    wcs = imaging_wcs(SHAPE, POINTING)
    corners = footprint(wcs, SHAPE)
    assert corners.shape == (4, 2)
    region = s_region(wcs, SHAPE).split()
    assert region[:2] == ["POLYGON", "ICRS"]
    assert np.allclose(np.array(region[2:], float).reshape(4, 2), corners, atol=1e-8)
