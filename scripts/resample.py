"""Drizzle a product's exposures (their _crf files) into the _i2d mosaic (or one exposure alone into
its own _i2d, or the exposures that reach one tile into the tile's _i2d).

The arrays are read with astropy.io.fits and the pixel maps come from the product's geometry file
(the crf files' WCS, sampled), so only the first crf is opened as a datamodel, for the metadata.
"""

from image3.job_server import hand_off

hand_off()  # run in the workflow's warm job server when one runs (image3/job_server.py)

import logging

from image3.fits_read import read_lean
from image3.geometry import read_geometry
from image3.grid import read_grid
from image3.jobs import run
from image3.level2b import open_level2b, save_model
from image3.products import SipSettings, build_i2d
from image3.resample import VARIANCES, DrizzleSettings, Exposure, Mosaic
from image3.tiles import tile_grid, tile_named

log = logging.getLogger("image3")
EXTENSIONS = ("SCI", "DQ", *(v.upper() for v in VARIANCES))


def main():
    sm = snakemake  # noqa: F821
    grid = read_grid(sm.input.grid)
    if "tile" in sm.params.keys():  # a sub-array of the product grid
        t = sm.params.tile
        grid = tile_grid(grid, tile_named(grid.shape, t["name"], size=t["size"], margin=t["margin"]))
    settings = DrizzleSettings(**sm.params.drizzle)
    mosaic = Mosaic(grid, settings, len(sm.input.crf))
    for name, path in zip(sm.params.exposures, sm.input.crf, strict=True):
        geometry = read_geometry(sm.input.geometry, name)
        exposure = Exposure.from_lean(read_lean(path, EXTENSIONS))
        pixmap = geometry.pixel_map(grid.world_to_pixel)
        if mosaic.add(exposure, geometry.pixel_scale, pixmap=pixmap, name=name):
            log.info("drizzled %s", path)
    with open_level2b(sm.input.crf[0]) as reference:
        i2d = build_i2d(
            mosaic.arrays(),
            grid,
            reference,
            settings,
            mosaic.n_added,
            mosaic.exptime,
            geometry.pixel_scale,
            SipSettings(**sm.params.sip),
        )
        save_model(i2d, sm.output.i2d)


run(main, snakemake.log[0])  # noqa: F821
