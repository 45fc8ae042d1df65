"""Stand-ins for scipy.ndimage's (and photutils') morphology on 2-D arrays, written for speed on the
full-frame images every step handles (shifted views and separable passes instead of generic
filters): each gives the same result as the call its docstring names
(tests/test_speed_equivalence.py).
"""

import numpy as np
from scipy import ndimage

__all__ = ["box_dilation", "connected_above", "cross_dilation", "maximum_3x3"]


def maximum_3x3(image):
    """Largest value in each pixel's 3x3 neighbourhood, edges repeated (``ndimage.maximum_filter``
    with ``size=3``, as two separable passes over shifted views; booleans give the 3x3 dilation)."""
    padded = np.pad(image, 1, mode="edge")
    rows = np.maximum(np.maximum(padded[:-2], padded[1:-1]), padded[2:])
    return np.maximum(np.maximum(rows[:, :-2], rows[:, 1:-1]), rows[:, 2:])


def cross_dilation(mask):
    """``mask`` grown by one pixel along rows and columns (``ndimage.binary_dilation``'s default)."""
    out = mask.copy()
    out[1:] |= mask[:-1]
    out[:-1] |= mask[1:]
    out[:, 1:] |= mask[:, :-1]
    out[:, :-1] |= mask[:, 1:]
    return out


def box_dilation(mask, radius):
    """``mask`` grown by ``radius`` pixels in a square (a (2 radius + 1)^2 maximum filter): each
    axis in turn, by doubling shifts (log2 radius passes) instead of one per pixel."""
    for axis in (0, 1):
        grown, reach = mask.copy(), 0
        while reach < radius:
            step = min(reach + 1, radius - reach)
            shifted = np.zeros_like(grown)
            lo, hi = [slice(None)] * 2, [slice(None)] * 2
            lo[axis], hi[axis] = slice(step, None), slice(None, -step)
            shifted[tuple(lo)] = grown[tuple(hi)]
            shifted[tuple(hi)] |= grown[tuple(lo)]
            grown |= shifted
            reach += step
        mask = grown
    return mask


def connected_above(image, threshold, npixels):
    """Pixels of 8-connected regions of at least ``npixels`` pixels above ``threshold`` (what
    photutils' ``detect_sources`` segments, without importing photutils for a mask)."""
    labels, count = ndimage.label(image > threshold, structure=np.ones((3, 3), bool))
    if count == 0:
        return np.zeros(image.shape, bool)
    keep = np.bincount(labels.ravel()) >= npixels
    keep[0] = False
    return keep[labels]
