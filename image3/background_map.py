"""Smooth background and background-noise images of an image with sources (photutils Background2D).

Shared by the alignment's source finding and the source catalog, with the official step's recipe:
sigma-clipped (3 sigma) medians in boxes, 3x3 median-filtered and interpolated; when no box has
enough usable pixels (small or crowded images), the whole image as one box.
"""

import numpy as np
from astropy.stats import SigmaClip
from photutils.background import Background2D, MedianBackground


def background_map(data, mask, box_size):
    """(background, background RMS) images in the data's units, zero where ``mask``.

    ``box_size`` is in pixels, capped at the image's size.
    """
    options = {
        "mask": mask,
        "filter_size": 3,
        "sigma_clip": SigmaClip(sigma=3.0),
        "bkg_estimator": MedianBackground(),
    }
    box = int(min(box_size, *data.shape))
    try:
        bkg = Background2D(data, box, **options)
    except ValueError:
        bkg = Background2D(data, data.shape, exclude_percentile=100.0, **options)
    return np.where(mask, 0.0, bkg.background), np.where(mask, 0.0, bkg.background_rms)
