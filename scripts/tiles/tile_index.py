"""Cut a product's output grid into tiles: the tile index (which exposures each tile reads) and
its report figure. Tiles that no exposure reaches are left out of the index (no job makes them)."""

from image3.job_server import hand_off

hand_off()  # run in the workflow's warm job server when one runs (image3/job_server.py)

import logging

from image3.io.atomic import atomic_path
from image3.jobs import run
from image3.resample.grid import read_grid
from image3.tiles.layout import (
    check_tile_count,
    exposure_outline,
    overlapping_exposures,
    tile_layout,
    write_tile_index,
)
from image3.tiles.qa import plot_tiles
from image3.wcs.geometry import read_geometries

log = logging.getLogger("image3")


def main():
    sm = snakemake  # noqa: F821
    p = sm.params
    grid = read_grid(sm.input.grid)
    check_tile_count(grid.shape, size=p.size, margin=p.margin, max_tiles=p.max_tiles)
    geometries = read_geometries(sm.input.geometry)
    outlines = {name: exposure_outline(g, grid) for name, g in geometries.items()}
    input_pixels = {name: g.pixel_scale / grid.pixel_scale for name, g in geometries.items()}
    layout = tile_layout(grid.shape, size=p.size, margin=p.margin)
    exposures = {t.name: overlapping_exposures(outlines, input_pixels, t) for t in layout}
    tiles = [t for t in layout if exposures[t.name]]
    log.info("%d of %d tiles reached by exposures", len(tiles), len(layout))
    write_tile_index(sm.output.index, grid, tiles, exposures, size=p.size, margin=p.margin)
    with atomic_path(sm.output.qa) as tmp:
        plot_tiles(
            grid.shape, tiles, outlines, {t: len(e) for t, e in exposures.items()}, tmp, sm.wildcards.product
        )


run(main, snakemake.log[0])  # noqa: F821
