"""Diffraction spikes: their directions on a detector, and how far an excess runs along them.

JWST's hexagonal segments give every star six spikes 60 degrees apart, the first along +V3, and
the secondary mirror's struts a fainter pair along V2; all are fixed in the telescope's V2/V3 frame,
so on the sky they turn with the roll (the V3 position angle) and on a detector they keep the same
directions whatever the roll (the detector is fixed in V2/V3 too). As lines through the star they
are four: 0, 60, 120 and 90 degrees from V3. That set is symmetric about V3, so it does not depend
on the V frame's parity.

Pixels 0-based (x, y); angles in degrees, position angles east of north; sky offsets in arcsec.
"""

import numpy as np

__all__ = ["OFF_LINE_DEG", "SPIKE_LINES_DEG", "along_lines", "detector_directions", "spike_directions"]

SPIKE_LINES_DEG = (0.0, 60.0, 120.0, 90.0)  # lines through a star, degrees from +V3
OFF_LINE_DEG = 15.0  # the lines either side a spike's level is compared with (a spike is narrow)


def detector_directions(xs, ys, ra, dec, position_angles):
    """Unit vectors (m, 2) (dx, dy) on the detector along sky directions of ``position_angles``
    (deg east of north), from sky positions ``ra``, ``dec`` (deg, (len(ys), len(xs))) at pixel
    nodes ``xs``, ``ys`` (a :class:`image3.wcs.geometry.Geometry`'s): the local Jacobian at the
    node nearest the detector's centre maps the sky's tangent plane back onto the pixels."""
    i = int(np.clip(np.argmin(np.abs(ys - ys.mean())), 1, len(ys) - 2))
    j = int(np.clip(np.argmin(np.abs(xs - xs.mean())), 1, len(xs) - 2))
    cos_dec = np.cos(np.deg2rad(dec[i, j]))

    def tangent(di, dj):  # (east, north) offset between the nodes (i - di, j - dj) and (i + di, j + dj)
        dra = (ra[i + di, j + dj] - ra[i - di, j - dj] + 180.0) % 360.0 - 180.0
        return np.array([dra * cos_dec, dec[i + di, j + dj] - dec[i - di, j - dj]]) * 3600.0

    jacobian = np.column_stack(
        [tangent(0, 1) / (xs[j + 1] - xs[j - 1]), tangent(1, 0) / (ys[i + 1] - ys[i - 1])]
    )  # arcsec per pixel: columns d/dx, d/dy
    pa = np.deg2rad(np.asarray(position_angles, float))
    vectors = np.linalg.solve(jacobian, np.stack([np.sin(pa), np.cos(pa)])).T
    return vectors / np.hypot(*vectors.T)[:, None]


def spike_directions(geometry, v3_position_angle):
    """Unit vectors (4, 2) (dx, dy) along the spike lines (:data:`SPIKE_LINES_DEG`) on an exposure
    whose sampled WCS is ``geometry`` (:class:`image3.wcs.geometry.Geometry`) and whose V3 axis
    points to ``v3_position_angle`` on the sky (deg east of north: ``ROLL_REF``,
    ``meta.wcsinfo.roll_ref``, the V3 position angle at the reference point)."""
    angles = float(v3_position_angle) + np.array(SPIKE_LINES_DEG)
    return detector_directions(geometry.xs, geometry.ys, geometry.ra, geometry.dec, angles)


def along_lines(image, iy, ix, directions, reach, first=2):
    """How far ``image`` stays up along lines through pixels (iy, ix): for each pixel and direction
    the geometric mean of the medians of its two sides (negative medians count as 0), each sampled
    every pixel from ``first`` to ``reach`` pixels away (bilinear interpolation; samples touching
    NaN pixels or beyond the edges left out; a side with fewer than half its samples left, at an
    edge or a saturated core, gives way to the other side's median); the largest of these over
    ``directions`` ((m, 2) unit vectors (dx, dy)), less the larger of the same along the lines
    ``OFF_LINE_DEG`` to either side (clipped at 0). A feature that runs along a direction to both
    sides (a diffraction spike, also where its brightness falls off along it) keeps about its
    level; one that does not reach about (first + reach) / 2 pixels to both sides drops to the
    sky's (a cosmic-ray track would have to lie along a spike and be twice that long), and one as
    bright off the line as on it (a star's round wings: a static star seen by one exposure of a
    moving target's) is no spike.
    Returns float64 (len(iy),), NaN where no direction has enough samples.
    """
    iy, ix = np.asarray(iy, float), np.asarray(ix, float)
    steps = np.arange(first, reach + 1, dtype=float)
    best = np.full(np.size(iy), np.nan)
    if steps.size == 0:
        return best
    for direction in np.asarray(directions, float):
        off = [
            _line_level(image, iy, ix, _turned(direction, a), steps) for a in (OFF_LINE_DEG, -OFF_LINE_DEG)
        ]
        level = _line_level(image, iy, ix, direction, steps) - np.fmax(*off)
        best = np.fmax(best, np.clip(level, 0, None))
    return best


def _line_level(image, iy, ix, direction, steps):
    """The geometric mean of the medians of ``image`` at ``steps`` pixels to both sides of (iy,
    ix) along ``direction`` (negative medians count as 0; a short side gives way to the other)."""
    dx, dy = direction
    up, down = (
        np.clip(_median(_bilinear(image, iy[:, None] + dy * offsets, ix[:, None] + dx * offsets)), 0, None)
        for offsets in (steps, -steps)
    )
    level = np.sqrt(up * down)  # NaN when either side is short: then the other side's
    return np.where(np.isfinite(level), level, np.fmin(up, down))


def _turned(direction, degrees):
    """``direction`` (dx, dy) turned by ``degrees`` on the detector."""
    a = np.deg2rad(degrees)
    return np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]) @ direction


def _bilinear(image, y, x):
    """``image`` at positions (y, x) (0-based, any shape) by bilinear interpolation; NaN where a
    pixel used is NaN or the position is not inside the pixel centres' hull."""
    ny, nx = image.shape
    y0, x0 = np.floor(y).astype(np.intp), np.floor(x).astype(np.intp)
    fy, fx = (y - y0).astype(image.dtype), (x - x0).astype(image.dtype)
    inside = (y0 >= 0) & (x0 >= 0) & (y0 < ny - 1) & (x0 < nx - 1)
    flat = image.ravel()
    i = np.where(inside, y0 * nx + x0, 0)
    top = flat[i] * (1 - fx) + flat[i + 1] * fx
    bottom = flat[i + nx] * (1 - fx) + flat[i + nx + 1] * fx
    return np.where(inside, top * (1 - fy) + bottom * fy, np.nan)


def _median(values):
    """Median of each row's finite values (NaN where fewer than half the row is finite)."""
    ordered = np.sort(values, axis=1)  # NaN last
    count = np.isfinite(values).sum(axis=1)
    rows = np.arange(values.shape[0])
    lower = ordered[rows, np.maximum((count - 1) // 2, 0)]
    upper = ordered[rows, count // 2]
    return np.where(2 * count >= values.shape[1], 0.5 * (lower + upper), np.nan)
