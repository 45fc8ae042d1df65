"""The catalog of a tiled product: its tiles' catalogs merged, each source once (in the tile whose
interior holds its centroid), in product-grid pixels, and its ds9 regions."""

from image3.job_server import hand_off

hand_off()  # run in the workflow's warm job server when one runs (image3/job_server.py)

import logging

from astropy.table import QTable

from image3.io.provenance import provenance_meta
from image3.jobs import run
from image3.resample.grid import read_grid
from image3.source_catalog.products import regions_radius_arcsec, write_catalog, write_regions
from image3.tiles.layout import merge_tile_catalogs, tile_named

log = logging.getLogger("image3")


def main():
    sm = snakemake  # noqa: F821
    p = sm.params
    grid = read_grid(sm.input.grid)
    tiles = {name: tile_named(grid.shape, name, size=p.size, margin=p.margin) for name in p.tiles}
    tables = {
        name: QTable.read(path, format="ascii.ecsv") for name, path in zip(p.tiles, sm.input.cat, strict=True)
    }
    table = merge_tile_catalogs(tables, tiles)
    table.meta.update(provenance_meta([t.meta.get("ASNPOOL") for t in tables.values()]))
    log.info(
        "%d sources from %d tiles (%d entries)", len(table), len(tiles), sum(len(t) for t in tables.values())
    )
    write_regions(table, regions_radius_arcsec(table, grid.pixel_scale), sm.output.regions)
    write_catalog(table, sm.output.cat)


run(main, snakemake.log[0])  # noqa: F821
