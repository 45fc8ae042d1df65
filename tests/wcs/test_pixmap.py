"""Pixel maps from a coarse grid agree with the exact per-pixel evaluation."""

import numpy as np

from image3.resample.grid import make_grid
from image3.wcs.jwst_wcs import Pointing, imaging_wcs
from image3.wcs.pixmap import pixel_map


def test_coarse_pixel_map_matches_exact_map():
    shape = (400, 300)
    wcs = imaging_wcs(shape, Pointing(ra_ref=10.0, dec_ref=45.0, roll_ref=110.0))
    grid = make_grid([(wcs, shape)], rotation=0.0)
    exact = pixel_map(wcs, grid.wcs, shape, step=1)
    coarse = pixel_map(wcs, grid.wcs, shape, step=16)
    assert coarse.shape == (400, 300, 2)
    assert np.abs(coarse - exact).max() < 1e-4
