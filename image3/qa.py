"""QA figures for the report (matplotlib, no display)."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from astropy.io import fits  # noqa: E402
from astropy.table import Table  # noqa: E402
from astropy.visualization import AsinhStretch, ImageNormalize, ZScaleInterval  # noqa: E402
from astropy.wcs import WCS  # noqa: E402
from scipy import ndimage  # noqa: E402

from .resample import coverage_count  # noqa: E402

# Margins of the two-panel figures with a sky panel: fixed, since tight_layout measures every
# tick label of the sky axes (half a second a figure).
_SKY_PANELS = {"left": 0.1, "right": 0.97, "bottom": 0.09, "top": 0.94, "wspace": 0.2}


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


def _read_mosaic(i2d_path):
    with fits.open(i2d_path) as hdul:
        return hdul["SCI"].data, WCS(hdul["SCI"].header), hdul["CON"].data, hdul[0].header.get("FILENAME", "")


def _sci_panel(fig, position, sci, wcs, step, title):
    """An asinh-stretched view of SCI on sky axes, every ``step``-th pixel."""
    ax = fig.add_subplot(*position, projection=wcs[::step, ::step])
    view = sci[::step, ::step]
    norm = ImageNormalize(view, interval=ZScaleInterval(), stretch=AsinhStretch(0.1))
    ax.imshow(view, origin="lower", cmap="gray", norm=norm)
    ax.set_title(title)
    ax.set_xlabel("RA")
    ax.set_ylabel("Dec")
    return ax


def plot_mosaic(i2d_path, png_path, max_side=1200):
    """Mosaic preview: SCI with an asinh stretch on sky axes, and the coverage (context count)."""
    sci, wcs, con, product = _read_mosaic(i2d_path)
    step = max(1, int(np.ceil(max(sci.shape) / max_side)))
    coverage = coverage_count(con[..., ::step, ::step])  # only the pixels shown: not the whole mosaic
    fig = plt.figure(figsize=(13, 6))
    _sci_panel(fig, (1, 2, 1), sci, wcs, step, f"{product} SCI (MJy/sr)")
    ax2 = fig.add_subplot(1, 2, 2, projection=wcs[::step, ::step])
    im = ax2.imshow(coverage, origin="lower", cmap="viridis")
    fig.colorbar(im, ax=ax2, label="exposures")
    ax2.set_title("coverage")
    ax2.set_xlabel("RA")
    ax2.set_ylabel(" ")
    fig.subplots_adjust(**_SKY_PANELS)
    fig.savefig(png_path, dpi=90, format="png")
    plt.close(fig)


def plot_catalog(i2d_path, catalog_path, png_path, max_side=1200):
    """Catalog QA: the mosaic with the sources circled (point sources green, extended orange), and
    the histograms of the total (point-source) and isophotal AB magnitudes."""
    sci, wcs, _, product = _read_mosaic(i2d_path)
    table = Table.read(catalog_path, format="ascii.ecsv")
    step = max(1, int(np.ceil(max(sci.shape) / max_side)))
    fig = plt.figure(figsize=(14, 6.5))
    ax = _sci_panel(fig, (1, 2, 1), sci, wcs, step, f"{product}: {len(table)} sources")
    hist = fig.add_subplot(1, 2, 2)
    if len(table) and "is_extended" in table.colnames:
        extended = np.asarray(table["is_extended"], bool)
        for sel, colour, label in ((~extended, "lime", "point"), (extended, "orange", "extended")):
            x, y = np.asarray(table["xcentroid"])[sel] / step, np.asarray(table["ycentroid"])[sel] / step
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
    fig.subplots_adjust(**_SKY_PANELS)
    fig.savefig(png_path, dpi=90, format="png")
    plt.close(fig)


def plot_skymatch(result, png_path):
    """Sky-matching QA: the level of each exposure (MJy/sr), and the level difference of each
    overlapping pair as measured (before) and once the recorded levels are removed (after).

    ``result`` is an :class:`image3.skymatch.SkyResult`; exposures are numbered in their order (a
    pair is labelled by the first exposure of each group), and groups of exposures that overlap
    nothing else are named in the title.
    """
    names = list(result.levels)
    number = {name: k + 1 for k, name in enumerate(names)}
    first = {}
    for name, group in result.groups.items():
        first.setdefault(group, number[name])
    fig, axes = plt.subplots(1, 3, figsize=(15, 5), width_ratios=(1, 1.3, 1.3))
    colours = {g: f"C{k % 10}" for k, comp in enumerate(result.components) for g in comp}
    x = np.arange(1, len(names) + 1)
    axes[0].bar(
        x, [result.levels[n] for n in names], color=[colours.get(result.groups[n], "C0") for n in names]
    )
    local = [
        result.local[result.groups[n]].value if result.groups[n] in result.local else np.nan for n in names
    ]
    if np.isfinite(local).any():
        axes[0].plot(x, local, "k_", markersize=14, label="measured alone (local)")
        axes[0].legend(loc="best", framealpha=0.8)
    axes[0].set_xticks(x)
    axes[0].set_xlabel("exposure")
    axes[0].set_ylabel("level (MJy/sr)")
    axes[0].set_title(f"recorded levels, skymethod {result.method}")
    k = np.arange(len(result.pairs))
    labels = [f"{first[p.a]}-{first[p.b]}" for p in result.pairs]
    error = np.array([p.error for p in result.pairs])
    for ax, when in zip(axes[1:], ("before", "after"), strict=True):
        values = np.array([getattr(p, when) for p in result.pairs])
        if len(k):
            ax.errorbar(k, values, error, fmt="o", color="C0" if when == "before" else "C1")
            ax.set_xticks(k, labels, rotation=90 if len(k) > 20 else 0, fontsize=8)
            ax.set_title(f"overlap differences {when}: rms {np.sqrt(np.mean(values**2)):.2g} MJy/sr")
        else:
            ax.text(0.5, 0.5, "no overlaps", ha="center", transform=ax.transAxes)
        ax.axhline(0.0, color="grey", lw=0.8)
        ax.set_xlabel("pair of exposures")
        ax.set_ylabel("level difference (MJy/sr)")
    split = len(result.components) > 1 and "match" in result.method
    if split:
        parts = ["{" + ",".join(str(first[g]) for g in comp) + "}" for comp in result.components]
        fig.suptitle(
            f"{len(parts)} groups of exposures do not overlap each other: {' '.join(parts)}; "
            "each is matched on its own",
            color="C3",
        )
    fixed_margins(fig, top=0.75 if split else 0.45, bottom=0.9 if len(result.pairs) > 20 else 0.6)
    fig.savefig(png_path, dpi=90, format="png")
    plt.close(fig)


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


def plot_tiles(grid_shape, tiles, outlines, counts, png_path, product=""):
    """Tile layout QA: the exposures' outlines and the tiles (array dashed, interior solid, labelled
    with the number of exposures each reads) in product-grid pixels.

    ``tiles`` are :class:`image3.tiles.Tile`; ``outlines`` maps exposure names to (n, 2) polygons in
    product-grid pixels; ``counts`` tile names to numbers of exposures.
    """
    from matplotlib.patches import Polygon, Rectangle

    ny, nx = grid_shape
    fig, ax = plt.subplots(figsize=(9, 9 * min(max(ny / nx, 0.5), 2.0)))
    for k, outline in enumerate(outlines.values()):
        ax.add_patch(Polygon(outline, closed=True, fill=True, alpha=0.12, color=f"C{k % 10}", lw=0))
        ax.add_patch(Polygon(outline, closed=True, fill=False, color=f"C{k % 10}", lw=0.8))
    for tile in tiles:
        (x0, x1), (y0, y1) = tile.x, tile.y
        (i0, i1), (j0, j1) = tile.interior_x, tile.interior_y
        ax.add_patch(
            Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False, ls="--", lw=0.6, ec="grey")
        )
        ax.add_patch(Rectangle((i0 - 0.5, j0 - 0.5), i1 - i0, j1 - j0, fill=False, lw=1.2, ec="k"))
        ax.text(
            (i0 + i1) / 2, (j0 + j1) / 2, f"{tile.name}\n{counts[tile.name]} exp", ha="center", va="center"
        )
    ax.add_patch(Rectangle((-0.5, -0.5), nx, ny, fill=False, lw=1.5, ec="C3"))
    ax.set_xlim(-0.05 * nx, 1.05 * nx)
    ax.set_ylim(-0.05 * ny, 1.05 * ny)
    ax.set_aspect("equal")
    ax.set_xlabel("x (product grid pixels)")
    ax.set_ylabel("y (product grid pixels)")
    ax.set_title(f"{product}: {len(tiles)} tiles over {len(outlines)} exposures (grid {nx} x {ny})")
    fixed_margins(fig, left=0.9)
    fig.savefig(png_path, dpi=90, format="png")
    plt.close(fig)
