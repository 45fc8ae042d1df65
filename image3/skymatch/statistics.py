"""Sky statistics (``skystat``) of a set of pixel values (MJy/sr).

Statistics are taken after ``nclip`` rounds of clipping at ``lsigma``/``usigma`` standard deviations
about the median: ``mean``, ``median``, ``midpt`` (the median interpolated in a histogram of bins
``binwidth`` standard deviations wide) and ``mode`` (the peak of that histogram smoothed by a
Gaussian of one standard deviation, found by mean shift). The official step's mode is the highest
bin refined by a three-bin parabola, which on a few thousand values scatters by several bin widths;
ours is about as steady as a median and still gives little weight to a tail of source light.
"""

from dataclasses import dataclass

import numpy as np

from .settings import SkySettings

__all__ = ["sky_statistic", "Statistic"]


@dataclass(frozen=True)
class Statistic:
    """A sky statistic of a set of values: ``value``, clipped standard deviation ``std`` and the
    number ``n`` of values kept (``value`` is NaN when nothing is left)."""

    value: float
    std: float
    n: int

    @property
    def error(self) -> float:
        """Standard error of ``value`` (as for a mean; a rough scale for the other statistics)."""
        return self.std / np.sqrt(self.n) if self.n > 1 else np.inf


def sky_statistic(values, s: SkySettings) -> Statistic:
    """``s.skystat`` of ``values`` after ``s.nclip`` rounds of clipping about the median."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return Statistic(np.nan, np.nan, 0)
    for _ in range(s.nclip):
        centre, std = np.median(v), v.std()
        kept = v[(v >= centre - s.lsigma * std) & (v <= centre + s.usigma * std)]
        if kept.size in (0, v.size):
            break
        v = kept
    std = float(v.std())
    if s.skystat == "mean":
        value = v.mean()
    elif s.skystat == "median":
        value = np.median(v)
    elif s.skystat == "midpt":
        value = _midpt(v, s.binwidth * std)
    else:
        value = _mode(v, s.binwidth * std)
    return Statistic(float(value), std, int(v.size))


def _histogram(v, width):
    nbins = int(np.clip(np.ceil((v.max() - v.min()) / width), 1, 100_000)) if width > 0 else 1
    counts, edges = np.histogram(v, bins=nbins)
    return counts, edges


def _midpt(v, width):
    """Median interpolated linearly in the cumulative histogram (IRAF's ``midpt``)."""
    if width <= 0:
        return float(np.median(v))
    counts, edges = _histogram(v, width)
    cumulative = np.concatenate([[0.0], np.cumsum(counts)]) / counts.sum()
    return float(np.interp(0.5, cumulative, edges))


def _mode(v, width, iterations=50):
    """Peak of the distribution smoothed by a Gaussian of one standard deviation: mean shift over
    the histogram (bins ``width`` wide), started at the median. The smoothing keeps it as steady
    as a median (on Gaussian noise) while values more than 3 standard deviations from the peak
    weigh almost nothing."""
    peak = float(np.median(v))
    std = v.std()
    if width <= 0 or std == 0:
        return peak
    counts, edges = _histogram(v, width)
    centres = 0.5 * (edges[1:] + edges[:-1])
    for _ in range(iterations):
        w = counts * np.exp(-0.5 * ((centres - peak) / std) ** 2)
        new = float(np.sum(w * centres) / np.sum(w))
        if abs(new - peak) < 1e-6 * std:
            return new
        peak = new
    return peak
