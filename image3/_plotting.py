"""Shared by the steps' QA figures (matplotlib, no display): layout, reading a mosaic, a sky panel."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from astropy.io import fits  # noqa: E402
from astropy.visualization import AsinhStretch, ImageNormalize, ZScaleInterval  # noqa: E402
from astropy.wcs import WCS  # noqa: E402

__all__ = ["SKY_PANELS", "fixed_margins", "plt", "read_mosaic", "sci_panel"]

# Margins of the two-panel figures with a sky panel: fixed, since tight_layout measures every
# tick label of the sky axes (half a second a figure).
SKY_PANELS = {"left": 0.1, "right": 0.97, "bottom": 0.09, "top": 0.94, "wspace": 0.2}


def fixed_margins(fig, *, left=0.7, right=0.2, bottom=0.6, top=0.5, hspace=0.5, wspace=0.3):
    """Lay out ``fig``'s subplots with margins in inches (``hspace``, ``wspace``: fractions of a
    panel), instead of ``tight_layout``, which draws the figure once more to measure every label
    (a quarter of a second per figure)."""
    width, height = fig.get_size_inches()
    fig.subplots_adjust(
        left=left / width,
        right=1 - right / width,
        bottom=bottom / height,
        top=1 - top / height,
        hspace=hspace,
        wspace=wspace,
    )


def read_mosaic(i2d_path):
    """SCI, its FITS WCS, CON and the product's file name of an ``_i2d`` file."""
    with fits.open(i2d_path) as hdul:
        return hdul["SCI"].data, WCS(hdul["SCI"].header), hdul["CON"].data, hdul[0].header.get("FILENAME", "")


def sci_panel(fig, position, sci, wcs, step, title):
    """An asinh-stretched view of SCI on sky axes, every ``step``-th pixel."""
    ax = fig.add_subplot(*position, projection=wcs[::step, ::step])
    view = sci[::step, ::step]
    norm = ImageNormalize(view, interval=ZScaleInterval(), stretch=AsinhStretch(0.1))
    ax.imshow(view, origin="lower", cmap="gray", norm=norm)
    ax.set_title(title)
    ax.set_xlabel("RA")
    ax.set_ylabel("Dec")
    return ax
