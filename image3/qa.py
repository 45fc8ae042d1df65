"""QA figures for the report (matplotlib, no display)."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from astropy.io import fits  # noqa: E402
from astropy.visualization import AsinhStretch, ImageNormalize, ZScaleInterval  # noqa: E402
from astropy.wcs import WCS  # noqa: E402

from .resample import coverage_count  # noqa: E402


def plot_mosaic(i2d_path, png_path, max_side=1200):
    """Mosaic preview: SCI with an asinh stretch on sky axes, and the coverage (context count)."""
    with fits.open(i2d_path) as hdul:
        sci = hdul["SCI"].data
        wcs = WCS(hdul["SCI"].header)
        con = hdul["CON"].data
        product = hdul[0].header.get("FILENAME", "")
    step = max(1, int(np.ceil(max(sci.shape) / max_side)))
    coverage = coverage_count(con)
    fig = plt.figure(figsize=(13, 6))
    ax = fig.add_subplot(1, 2, 1, projection=wcs[::step, ::step])
    finite = sci[::step, ::step]
    norm = ImageNormalize(finite, interval=ZScaleInterval(), stretch=AsinhStretch(0.1))
    ax.imshow(finite, origin="lower", cmap="gray", norm=norm)
    ax.set_title(f"{product} SCI (MJy/sr)")
    ax.set_xlabel("RA")
    ax.set_ylabel("Dec")
    ax2 = fig.add_subplot(1, 2, 2, projection=wcs[::step, ::step])
    im = ax2.imshow(coverage[::step, ::step], origin="lower", cmap="viridis")
    fig.colorbar(im, ax=ax2, label="exposures")
    ax2.set_title("coverage")
    ax2.set_xlabel("RA")
    ax2.set_ylabel(" ")
    fig.tight_layout()
    fig.savefig(png_path, dpi=90, format="png")
    plt.close(fig)
