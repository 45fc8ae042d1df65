"""The outlier detection's QA figure: the fraction flagged per exposure and cut-outs of the flags."""

import numpy as np
from astropy.visualization import AsinhStretch, ImageNormalize
from scipy import ndimage

from .._plotting import fixed_margins, plt

__all__ = ["CUTOUT_EXPOSURES", "plot_outliers"]

CUTOUT_EXPOSURES = 6
"""Exposures whose flagged pixels the outlier figure shows in cut-outs: the first ones."""


def plot_outliers(names, fractions, masks, images, png_path, n_cutouts=4, half=8):
    """Percentage of pixels flagged per exposure, and cut-outs around the strongest flagged pixels.

    ``fractions``: per exposure, the fraction of its pixels flagged; ``masks`` and ``images``:
    boolean masks and SCI arrays of the first :data:`CUTOUT_EXPOSURES` exposures (or all, if
    fewer), whose cut-outs are ``2 * half + 1`` pixels wide, flagged pixels outlined in red.
    """
    n, shown = len(names), len(images)
    fig = plt.figure(figsize=(12, 3 + 2.4 * shown))
    ax = fig.add_subplot(shown + 1, 1, 1)
    ax.bar(range(n), [100 * f for f in fractions], color="C1")
    ax.set_xticks(range(n), [s[-24:] for s in names], fontsize=7)
    ax.set_ylabel("% pixels flagged")
    for k, (name, mask, image) in enumerate(zip(names, masks, images, strict=False)):
        for j, (y, x) in enumerate(_brightest_groups(image, mask, n_cutouts)):
            cut = (slice(max(y - half, 0), y + half + 1), slice(max(x - half, 0), x + half + 1))
            sub = fig.add_subplot(shown + 1, n_cutouts, (k + 1) * n_cutouts + j + 1)
            sub.imshow(
                image[cut],
                origin="lower",
                cmap="gray",
                norm=ImageNormalize(image[cut], stretch=AsinhStretch()),
            )
            sub.contour(mask[cut], levels=[0.5], colors="red", linewidths=0.8)
            sub.set_xticks([])
            sub.set_yticks([])
            sub.set_title(f"{name[-12:]} ({x},{y})", fontsize=7)
    fixed_margins(fig, left=0.8, bottom=0.3, top=0.3, hspace=0.35, wspace=0.1)
    fig.savefig(png_path, dpi=80, format="png")
    plt.close(fig)


def _brightest_groups(image, mask, n):
    """(y, x) of the brightest pixel of each of the ``n`` groups of touching flagged pixels whose
    brightest pixels are brightest, brightest first."""
    labels, _ = ndimage.label(mask)
    ys, xs = np.nonzero(mask)
    order = np.argsort(-image[ys, xs], kind="stable")
    _, first = np.unique(labels[ys, xs][order], return_index=True)  # each group's brightest pixel
    chosen = order[np.sort(first)[:n]]
    return list(zip(ys[chosen].tolist(), xs[chosen].tolist(), strict=True))
