"""The source catalog's QA figure: the sources on the mosaic and their magnitudes."""

import numpy as np
from astropy.table import Table

from .._plotting import SKY_PANELS, plt, read_mosaic, sci_panel
from .saturation import SATURATED

__all__ = ["plot_catalog"]


def plot_catalog(i2d_path, catalog_path, png_path, max_side=1200):
    """Catalog QA: the mosaic with the sources circled (point sources green, extended orange,
    saturated red), and the histograms of the total (point-source) and isophotal AB magnitudes."""
    sci, wcs, _, product = read_mosaic(i2d_path)
    table = Table.read(catalog_path, format="ascii.ecsv")
    step = max(1, int(np.ceil(max(sci.shape) / max_side)))
    fig = plt.figure(figsize=(14, 6.5))
    ax = sci_panel(fig, (1, 2, 1), sci, wcs, step, f"{product}: {len(table)} sources")
    hist = fig.add_subplot(1, 2, 2)
    if len(table) and "is_extended" in table.colnames:
        extended = np.asarray(table["is_extended"], bool)
        flags = np.asarray(table["flags"]) if "flags" in table.colnames else np.zeros(len(table), int)
        saturated = (flags & SATURATED) > 0
        kinds = ((~extended & ~saturated, "lime", "point"), (extended, "orange", "extended"))
        for sel, colour, label in (*kinds, (saturated, "red", "saturated")):
            x, y = np.asarray(table["xcentroid"])[sel], np.asarray(table["ycentroid"])[sel]
            ax.scatter(x, y, s=40, facecolors="none", edgecolors=colour, linewidths=0.7, label=label)
        ax.legend(loc="upper right", fontsize=8)
        for name, colour in (("aper_total_abmag", "C0"), ("isophotal_abmag", "C1")):
            mags = np.asarray(table[name], float)
            mags = mags[np.isfinite(mags)]
            if len(mags):
                hist.hist(mags, bins=30, histtype="step", color=colour, label=name)
        hist.legend(loc="upper left")
    hist.set_xlabel("AB magnitude")
    hist.set_ylabel("sources")
    fig.subplots_adjust(**SKY_PANELS)
    fig.savefig(png_path, dpi=90, format="png")
    plt.close(fig)
