"""Output grid: union of footprints and the official grid options."""

import asdf
import numpy as np
import pytest
from astropy.coordinates import SkyCoord

from image3.errors import InputError
from image3.resample.grid import grid_from_asdf, make_grid, read_grid, write_grid
from image3.wcs.geometry import Geometry, read_geometry, write_geometries
from image3.wcs.jwst_wcs import Pointing, footprint, imaging_wcs
from image3.wcs.pixmap import pixel_map

SHAPE = (300, 300)


def _exposures():
    pointings = [
        Pointing(ra_ref=150.0, dec_ref=2.0, roll_ref=40.0),
        Pointing(ra_ref=150.002, dec_ref=2.001, roll_ref=40.0),
        Pointing(ra_ref=149.999, dec_ref=2.003, roll_ref=40.05),
    ]
    return [(imaging_wcs(SHAPE, p), SHAPE) for p in pointings]


def _inside(grid, ra, dec):
    x, y = grid.wcs.invert(ra, dec, with_bounding_box=False)
    ny, nx = grid.shape
    return (x >= -0.5 - 1e-6) & (x <= nx - 0.5 + 1e-6) & (y >= -0.5 - 1e-6) & (y <= ny - 0.5 + 1e-6)


def test_default_grid_covers_every_footprint_tightly():
    exposures = _exposures()
    grid = make_grid(exposures)
    for wcs, shape in exposures:
        corners = footprint(wcs, shape)
        assert _inside(grid, corners[:, 0], corners[:, 1]).all()
    # Tight: the grid is not more than a pixel larger than the union's bounding box.
    corners = np.vstack([footprint(w, s) for w, s in exposures])
    x, y = grid.wcs.invert(corners[:, 0], corners[:, 1], with_bounding_box=False)
    assert grid.shape[1] - (x.max() - x.min()) < 1.01
    assert grid.shape[0] - (y.max() - y.min()) < 1.01
    assert grid.pixel_scale == pytest.approx(0.0311, rel=0.01)


def test_rotation_zero_is_north_up_and_pixel_scale_option():
    grid = make_grid(_exposures(), rotation=0.0, pixel_scale=0.05)
    assert grid.pixel_scale == 0.05
    c0 = SkyCoord(*grid.wcs(100.0, 100.0), unit="deg")
    c_up = SkyCoord(*grid.wcs(100.0, 101.0), unit="deg")
    c_right = SkyCoord(*grid.wcs(101.0, 100.0), unit="deg")
    assert abs(c0.position_angle(c_up).deg) < 1e-3 or abs(c0.position_angle(c_up).deg - 360) < 1e-3
    assert c0.position_angle(c_right).deg == pytest.approx(270.0, abs=1e-3)  # east is left
    assert c0.separation(c_up).arcsec == pytest.approx(0.05, rel=1e-4)


def test_pixel_scale_ratio_crval_crpix_and_output_shape():
    """output_shape in the official [x, y] order: (80, 64) is 80 columns, 64 rows."""
    grid = make_grid(
        _exposures(), pixel_scale_ratio=0.5, crval=(150.001, 2.001), crpix=(10.0, 20.0), output_shape=(80, 64)
    )
    assert grid.shape == (64, 80)
    assert grid.pixel_scale == pytest.approx(0.0311 / 2, rel=0.01)
    ra, dec = grid.wcs(10.0, 20.0)
    assert ra == pytest.approx(150.001, abs=1e-9) and dec == pytest.approx(2.001, abs=1e-9)


def test_grid_round_trips_through_asdf_and_user_wcs(tmp_path):
    grid = make_grid(_exposures(), rotation=0.0)
    write_grid(grid, tmp_path / "grid.asdf")
    back = read_grid(tmp_path / "grid.asdf")
    assert back.shape == grid.shape
    assert np.allclose(back.wcs(5.0, 7.0), grid.wcs(5.0, 7.0), atol=1e-12)
    asdf.AsdfFile({"wcs": grid.wcs}).write_to(tmp_path / "user.asdf")
    user = grid_from_asdf(tmp_path / "user.asdf")
    assert user.shape == grid.shape
    assert user.pixel_scale == pytest.approx(grid.pixel_scale, rel=1e-6)


def test_absurd_grid_is_refused_with_a_clear_message(tmp_path):
    # A wrong pointing puts one exposure 30 degrees away: the union would be enormous.
    exposures = _exposures() + [
        (imaging_wcs(SHAPE, Pointing(ra_ref=180.0, dec_ref=2.0, roll_ref=40.0)), SHAPE)
    ]
    with pytest.raises(InputError, match="max_output_pixels"):
        make_grid(exposures, max_output_pixels=10**8)
    asdf.AsdfFile({"nothing": 1}).write_to(tmp_path / "bad.asdf")
    with pytest.raises(InputError, match="output_wcs"):
        grid_from_asdf(tmp_path / "bad.asdf")


def test_lean_tan_projection_equals_the_gwcs():
    """The numpy TAN projection that per-exposure jobs use is the grid's gwcs, to 1e-7 pixel (the
    round-off of RA near 150 deg)."""
    grid = make_grid(_exposures(), rotation=33.0)
    y, x = np.mgrid[-50 : grid.shape[0] + 50 : 7, -50 : grid.shape[1] + 50 : 9].astype(float)
    ra, dec = grid.wcs(x, y, with_bounding_box=False)
    xl, yl = grid.world_to_pixel(ra, dec)
    assert np.abs(xl - x).max() < 1e-7 and np.abs(yl - y).max() < 1e-7


def test_geometry_pixel_map_equals_the_gwcs_pixel_map(tmp_path):
    """The pixel map from the sampled geometry file equals the one from the gwcs (same nodes)."""
    wcs, shape = _exposures()[1]
    grid = make_grid(_exposures(), rotation=0.0)
    write_geometries(
        tmp_path / "g.npz", {"a": Geometry.from_wcs(wcs, shape, 16), "b": Geometry.from_wcs(wcs, shape)}
    )
    geometry = read_geometry(tmp_path / "g.npz", "a")
    assert geometry.shape == shape
    expected = pixel_map(wcs, grid.wcs, shape, step=16)
    assert np.abs(geometry.pixel_map(grid.world_to_pixel) - expected).max() < 1e-8
    write_grid(grid, tmp_path / "grid.json")
    assert (
        np.abs(geometry.pixel_map(read_grid(tmp_path / "grid.json").world_to_pixel) - expected).max() < 1e-8
    )
