"""Shared by the steps' QA figures (matplotlib, no display): layout, reading a mosaic, a sky panel."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from astropy.io import fits  # noqa: E402
from astropy.visualization import AsinhStretch, ImageNormalize, ZScaleInterval  # noqa: E402
from astropy.wcs import WCS  # noqa: E402

__all__ = [
    "SKY_LABELS",
    "SKY_PANELS",
    "fixed_margins",
    "plt",
    "read_mosaic",
    "sci_panel",
    "show_every",
    "sky_axes",
]

SKY_LABELS = {"longitude": "RA", "latitude": "Dec"}
"""Axis label of each celestial coordinate of a sky panel (WCSAxes' ``coord_type``)."""

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


def sky_axes(fig, position, wcs, shape):
    """A subplot (``position``: ``add_subplot``'s arguments) on the sky coordinates of ``wcs``,
    the FITS WCS of an image of ``shape``; its data coordinates are that image's 0-based pixels.

    Each coordinate is labelled itself (RA, Dec), so its label goes to the edge where WCSAxes
    draws its tick labels: on a grid rotated by more than 45 degrees RA runs up the vertical edge,
    and a label given to the horizontal axis (``set_xlabel``) would name the wrong coordinate.
    """
    ax = fig.add_subplot(*position, projection=wcs)
    for coord in ax.coords:
        coord.set_axislabel(SKY_LABELS.get(coord.coord_type, coord.default_label))
    ny, nx = shape
    ax.set_xlim(-0.5, nx - 0.5)
    ax.set_ylim(-0.5, ny - 0.5)
    return ax


def show_every(ax, view, step, **kwargs):
    """``imshow`` of ``view``, every ``step``-th pixel of an image (``image[::step, ::step]``),
    each shown pixel covering the ``step`` x ``step`` pixels it stands for in the image's own
    pixel frame, so the axes keep the full image's WCS (slicing an astropy WCS whose header has a
    CD matrix keeps the full pixel scale: ticks off by the factor ``step``)."""
    ny, nx = view.shape
    extent = (-0.5, nx * step - 0.5, -0.5, ny * step - 0.5)
    return ax.imshow(view, origin="lower", extent=extent, interpolation="nearest", **kwargs)


def sci_panel(fig, position, sci, wcs, step, title):
    """An asinh-stretched view of SCI (every ``step``-th pixel) on sky axes (:func:`sky_axes`)."""
    ax = sky_axes(fig, position, wcs, sci.shape)
    view = sci[::step, ::step]
    norm = ImageNormalize(view, interval=ZScaleInterval(), stretch=AsinhStretch(0.1))
    show_every(ax, view, step, cmap="gray", norm=norm)
    ax.set_title(title)
    return ax
