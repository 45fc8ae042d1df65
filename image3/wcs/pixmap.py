"""Pixel maps between an exposure and an output grid, evaluated on a coarse grid and interpolated.

Evaluating a JWST gwcs at every pixel costs about 1 s per megapixel; the map is smooth (a low-order
distortion followed by spherical rotations), so evaluating it every ``step`` pixels and
interpolating with bicubic splines gives the same map to better than 1e-4 pixel at a fraction of
the cost (tests/wcs/test_pixmap.py measures the error).
"""

import numpy as np

from ._interp import coarse_grid_evaluate

__all__ = ["pixel_map"]


def pixel_map(wcs_from, wcs_to, shape, step=16) -> np.ndarray:
    """Positions (0-based x, y) in ``wcs_to``'s pixels of every pixel of an image of ``shape``.

    Returns an (ny, nx, 2) float64 array as ``drizzle`` expects (``[..., 0]`` is x). ``step=1``
    evaluates every pixel exactly.
    """

    def transform(x, y):
        ra, dec = wcs_from(x, y, with_bounding_box=False)
        return wcs_to.invert(ra, dec, with_bounding_box=False)

    if step <= 1:
        y, x = np.indices(shape, dtype=float)
        xo, yo = transform(x, y)
    else:
        xo, yo = coarse_grid_evaluate(transform, shape, step)
    return np.dstack([xo, yo])
