"""Saturated stars in an exposure for alignment: their cores, the stars refilled, the zones left out.

A star whose core saturated within the ramp's first group has no slope there: NaN pixels flagged
SATURATED and DO_NOT_USE (a *core*). With a hole in it the star finder's centroid is biased (by
0.13-0.21 pixel for an AB 18 star in F150W with one or two lost pixels), and around a large core
it fires on the diffraction spikes and Airy rings.

- A small core (at most ``small_core_pixels``; in F150W the field stars of about AB 17-18.5 lose one
  or two pixels) is refilled (:func:`refill_small_cores`): a pixel-integrated circular Gaussian
  and a constant, fitted by least squares to the usable pixels around the core, give the lost
  pixels their values, so the star is detected and centred as if whole. The fit needs no PSF model:
  the model is symmetric about its centre, and within a few pixels of the peak a Gaussian follows
  the diffraction core closely enough that the pixels missing on one side do not pull the centre.
  Simulated F150W fields (8 seeds x 2 set-ups, 67 such stars): the fitted centres are 0.009 pixel
  RMS from the truth, the star finder's centroids on the refilled image 0.016 (63 detected), the
  same stars unsaturated 0.010, and with the hole 0.19.
- A large core (a bright star, whose spikes and rings reach far) is not refilled: no detection is
  kept within a zone around it (:func:`saturated_star_zones`).

Pixels are 0-based (row, column) array indices; x runs along columns.
"""

import numpy as np
from scipy import ndimage, optimize, special

from ..io.dq import DQ_FLAGS

__all__ = ["refill_small_cores", "saturated_cores", "saturated_star_zones"]

_EIGHT = np.ones((3, 3), bool)
# Gaussian sigma per FWHM.
_SIGMA_PER_FWHM = 1.0 / (2.0 * np.sqrt(2.0 * np.log(2.0)))


def saturated_cores(data, dq) -> np.ndarray:
    """Pixels of saturated cores (boolean, data's shape): flagged SATURATED and not usable
    (DO_NOT_USE, or not finite), the pixels ramp fitting leaves without a slope; a snowball's
    flagged but measured pixels are no core."""
    saturated = (dq & DQ_FLAGS["SATURATED"]) > 0
    return saturated & (((dq & DQ_FLAGS["DO_NOT_USE"]) > 0) | ~np.isfinite(data))


def saturated_star_zones(cores, fwhm: float, spike_reach: float | None) -> np.ndarray:
    """Pixels near a saturated star, where no source is kept for alignment (boolean, cores' shape).

    Each connected (8 neighbours) set of ``cores`` pixels excludes every pixel within ``R`` pixels
    of one of its pixels, ``R = spike_reach * fwhm * (r / fwhm) ** 1.5`` with ``r = sqrt(n / pi)``
    the radius of its ``n`` pixels and ``fwhm`` the PSF's (pixels). Why the power 1.5: the PSF's
    wings fall as the distance^-3, so a star of flux F saturates out to ``r ~ F^(1/3)``; a
    spike's brightness falls as F / distance^2, so it stays detectable out to ``R ~ F^(1/2)
    ~ r^(3/2)``. ``spike_reach`` is thus ``R`` in FWHMs for a core of one FWHM's radius; with
    the default 12 and the F150W PSF (1.6 pixels), a one-pixel core (an AB 18 star) would exclude
    4 pixels around it, a core of 13 pixels (AB 14) 27. None or 0: no zone.
    """
    zones = np.zeros(cores.shape, bool)
    if not spike_reach or not cores.any():
        return zones
    labels, n = ndimage.label(cores, structure=_EIGHT)
    size = np.bincount(labels.ravel(), minlength=n + 1)[1:]
    reach = spike_reach * fwhm * (np.sqrt(size / np.pi) / fwhm) ** 1.5
    for label, (rows, cols), radius in zip(range(1, n + 1), ndimage.find_objects(labels), reach, strict=True):
        pad = int(np.ceil(radius))
        window = (
            slice(max(rows.start - pad, 0), rows.stop + pad),
            slice(max(cols.start - pad, 0), cols.stop + pad),
        )
        distance = ndimage.distance_transform_edt(labels[window] != label)
        zones[window] |= distance <= radius
    return zones


def _pixel_gaussian(params, x, y):
    """A circular Gaussian of total flux ``a`` centred at (cx, cy), width ``sigma`` (pixels),
    integrated over the unit pixels centred at (x, y), plus a constant ``b``."""
    a, cx, cy, sigma, b = params
    scale = np.sqrt(2.0) * sigma

    def across(u, c):
        return 0.5 * (special.erf((u + 0.5 - c) / scale) - special.erf((u - 0.5 - c) / scale))

    return a * across(x, cx) * across(y, cy) + b


def _fit_core(image, usable, rows, cols, fwhm):
    """Fitted (a, cx, cy, sigma, b) of :func:`_pixel_gaussian` to the ``usable`` pixels of
    ``image`` around the core at (``rows``, ``cols``), in a square of half-side ``r + 1.5 fwhm``
    (``r`` the core's radius) about its centre; None when fewer than 8 pixels are usable or the
    fit ends with its centre more than a pixel from the core's or its width at a bound."""
    cy, cx = rows.mean(), cols.mean()
    half = int(np.ceil(np.sqrt(rows.size / np.pi) + 1.5 * fwhm))
    ny, nx = image.shape
    ys, xs = np.mgrid[
        max(round(cy) - half, 0) : min(round(cy) + half + 1, ny),
        max(round(cx) - half, 0) : min(round(cx) + half + 1, nx),
    ]
    keep = usable[ys, xs]
    ys, xs = ys[keep], xs[keep]
    if ys.size < 8:
        return None
    values = image[ys, xs]
    sigma = fwhm * _SIGMA_PER_FWHM
    start = [max(values.max(), 0.0) * 4.0 * np.pi * sigma**2, cx, cy, sigma, 0.0]
    lower = [0.0, cx - 1.5, cy - 1.5, 0.3 * sigma, -np.inf]
    upper = [np.inf, cx + 1.5, cy + 1.5, 3.0 * sigma, np.inf]
    fit = optimize.least_squares(lambda p: _pixel_gaussian(p, xs, ys) - values, start, bounds=(lower, upper))
    a, fx, fy, width, _ = fit.x
    central = np.hypot(fx - cx, fy - cy) <= 1.0
    if not fit.success or not central or a <= 0 or not lower[3] < width < upper[3]:
        return None
    return fit.x


def refill_small_cores(image, usable, cores, fwhm: float, small_core_pixels: int):
    """``image`` with every core of at most ``small_core_pixels`` pixels filled from a fit to the
    usable pixels around it (:func:`_pixel_gaussian` by least squares; ``usable`` boolean, the
    cores not usable), and the boolean image of the pixels filled. ``image`` is
    background-subtracted, ``fwhm`` the PSF's (pixels). A core whose fit fails (see
    :func:`_fit_core`) stays as it was; 0: none is filled."""
    filled = np.zeros(cores.shape, bool)
    if not small_core_pixels or not cores.any():
        return image, filled
    labels, n = ndimage.label(cores, structure=_EIGHT)
    size = np.bincount(labels.ravel(), minlength=n + 1)[1:]
    image = image.copy()
    for label, (rows, cols) in zip(range(1, n + 1), ndimage.find_objects(labels), strict=True):
        if size[label - 1] > small_core_pixels:
            continue
        rows, cols = np.nonzero(labels[rows, cols] == label) + np.array([[rows.start], [cols.start]])
        params = _fit_core(image, usable, rows, cols, fwhm)
        if params is not None:
            image[rows, cols] = _pixel_gaussian(params, cols, rows)
            filled[rows, cols] = True
    return image, filled
