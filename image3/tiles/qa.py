"""The tile layout's QA figure: the exposures' outlines and the tiles over the product grid."""

from .._plotting import fixed_margins, plt

__all__ = ["plot_tiles"]


def plot_tiles(grid_shape, tiles, outlines, counts, png_path, product=""):
    """Tile layout QA: the exposures' outlines and the tiles (array dashed, interior solid, labelled
    with the number of exposures each reads) in product-grid pixels.

    ``tiles`` are :class:`image3.tiles.layout.Tile`; ``outlines`` maps exposure names to (n, 2) polygons in
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
