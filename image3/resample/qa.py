"""The resample step's QA figure: a preview of the mosaic and its coverage."""

import numpy as np

from .._plotting import SKY_PANELS, plt, read_mosaic, sci_panel, show_every, sky_axes
from .drizzle import coverage_count

__all__ = ["plot_mosaic"]


def plot_mosaic(i2d_path, png_path, max_side=1200):
    """Mosaic preview: SCI with an asinh stretch on sky axes, and the coverage (context count)."""
    sci, wcs, con, product = read_mosaic(i2d_path)
    step = max(1, int(np.ceil(max(sci.shape) / max_side)))
    coverage = coverage_count(con[..., ::step, ::step])  # only the pixels shown: not the whole mosaic
    fig = plt.figure(figsize=(13, 6))
    sci_panel(fig, (1, 2, 1), sci, wcs, step, f"{product} SCI (MJy/sr)")
    ax2 = sky_axes(fig, (1, 2, 2), wcs, sci.shape)
    im = show_every(ax2, coverage, step, cmap="viridis")
    fig.colorbar(im, ax=ax2, label="exposures")
    ax2.set_title("coverage")
    fig.subplots_adjust(**SKY_PANELS)
    fig.savefig(png_path, dpi=90, format="png")
    plt.close(fig)
