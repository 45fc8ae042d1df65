"""Saturated cores in a mosaic: where they are, how detection sees them, and the catalog's flag.

A star that saturates every exposure at the same place leaves a hole of no data in the mosaic
(resample has nothing to put there: SCI NaN, WHT 0), surrounded by its bright unsaturated wings.
Such a hole is a *saturated core*: a connected region without data that the data enclose (it does
not reach the array's border or the no-data region around the footprint) and whose rim, the
pixels with data touching it, is bright (its median above ``snr_threshold`` x the background RMS;
a gap between detectors that the dithers do not fill has sky around it and is no core).

Detection fills each core with the brightest value of its rim, so the star is one source with one
peak (a hole would leave a ring of separate peaks around it, each dropped as "centred at the data's
edge", and the star with them). Measurements see the core as missing (masked): the centroid comes
from the unsaturated wings, and fluxes are not measured (NaN in the catalog) since the core holds
most of the light. The catalog's ``flags`` marks these sources (:data:`SATURATED`).

Pixels are 0-based (row, column) array indices; images are in any one unit (background-subtracted).
"""

import numpy as np
from scipy import ndimage

__all__ = ["SATURATED", "fill_cores", "saturated_cores", "saturation_flags"]

# The catalog's ``flags`` bit for a source holding a saturated core: the value of the HST HAP
# catalogs' "saturated" flag (drizzlepac), the closest thing to a convention for imaging catalogs.
SATURATED = 4

_EIGHT = np.ones((3, 3), bool)


def _enclosed(mask):
    """Labels (0: none) of the connected no-data regions of ``mask`` that touch neither the array's
    border nor, through other no-data pixels, the footprint's outside; and their count."""
    labels, n = ndimage.label(mask, structure=_EIGHT)
    border = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    labels[np.isin(labels, border)] = 0
    return labels, n


def _rim_labels(labels):
    """Each pixel just outside a labelled region carries that region's label (0 elsewhere)."""
    return np.where(labels == 0, ndimage.grey_dilation(labels, footprint=_EIGHT), 0)


def saturated_cores(image, mask, rms, snr_threshold):
    """Boolean image of the saturated cores of a background-subtracted ``image`` (``mask``: pixels
    without data, True): enclosed no-data regions whose rim's median exceeds ``snr_threshold`` x
    ``rms`` (the background RMS image, same units as ``image``)."""
    labels, n = _enclosed(mask)
    if n == 0 or not labels.any():
        return np.zeros(mask.shape, bool)
    rim = _rim_labels(labels)
    index = np.arange(1, n + 1)
    rim_median = ndimage.median(image, rim, index)
    rim_rms = ndimage.median(rms, rim, index)
    with np.errstate(invalid="ignore"):
        bright = np.concatenate([[False], np.asarray(rim_median) > snr_threshold * np.asarray(rim_rms)])
    return bright[labels]


def fill_cores(image, cores):
    """``image`` with each saturated core (``cores``, boolean) set to the brightest value of its rim,
    so detection sees a flat-topped peak instead of a hole."""
    if not cores.any():
        return image
    labels, n = ndimage.label(cores, structure=_EIGHT)
    rim = _rim_labels(labels)
    top = np.concatenate([[0.0], np.asarray(ndimage.maximum(image, rim, np.arange(1, n + 1)), float)])
    return np.where(cores, top[labels], image)


def saturation_flags(segm_data, labels, cores):
    """The ``flags`` value of each source (``labels``, in ``segm_data``, the segmentation's label
    image): :data:`SATURATED` where its segment holds a saturated core pixel, else 0."""
    saturated = np.unique(segm_data[cores & (segm_data > 0)])
    return np.where(np.isin(labels, saturated), SATURATED, 0).astype(np.int32)
