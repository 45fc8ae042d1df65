"""Evaluate smooth functions of pixel position on a coarse grid and interpolate to every pixel."""

import numpy as np

__all__ = ["coarse_grid_evaluate", "coarse_nodes", "spline_to_pixels"]


def coarse_nodes(shape, step=16):
    """Node coordinates (0-based x, y; float) every ``step`` pixels plus the last column and row."""
    ny, nx = shape
    xs = np.unique(np.append(np.arange(0, nx, step), nx - 1)).astype(float)
    ys = np.unique(np.append(np.arange(0, ny, step), ny - 1)).astype(float)
    return xs, ys


def spline_to_pixels(xs, ys, values, shape):
    """Bicubic splines through ``values`` (each (len(ys), len(xs)) on the nodes) at every pixel of
    ``shape``; returns a tuple of (ny, nx) arrays."""
    from scipy.interpolate import RectBivariateSpline

    ny, nx = shape
    kx, ky = min(3, len(xs) - 1), min(3, len(ys) - 1)
    out = []
    for v in values:
        spline = RectBivariateSpline(ys, xs, v, kx=ky, ky=kx)
        out.append(spline(np.arange(ny, dtype=float), np.arange(nx, dtype=float)))
    return tuple(out)


def coarse_grid_evaluate(func, shape, step=16):
    """Evaluate ``func(x, y) -> tuple of arrays`` on a coarse grid and spline it to ``shape``.

    ``x``/``y`` are 0-based pixel coordinates. The grid has nodes every ``step`` pixels plus the last
    row and column; bicubic splines through the nodes reproduce smooth (polynomial-like) functions
    to far below a thousandth of their per-pixel variation. Returns a tuple of (ny, nx) arrays.
    """
    xs, ys = coarse_nodes(shape, step)
    gx, gy = np.meshgrid(xs, ys)
    return spline_to_pixels(xs, ys, func(gx, gy), shape)
