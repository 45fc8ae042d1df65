"""Compute an output grid (union of the exposures' footprints: one product's, or every product's
for a common grid) and save it (JSON)."""

from image3.job_server import hand_off

hand_off()  # run in the workflow's warm job server when one runs (image3/job_server.py)

import logging

from image3.jobs import run
from image3.resample.grid import grid_from_asdf, make_grid, write_grid
from image3.wcs.geometry import read_geometries

log = logging.getLogger("image3")


def main():
    sm = snakemake  # noqa: F821
    options = dict(sm.params.grid)
    output_wcs = options.pop("output_wcs")
    if output_wcs:
        grid = grid_from_asdf(output_wcs, options["output_shape"], options["max_output_pixels"])
    else:
        geometries = [g for path in sm.input.geometry for g in read_geometries(path).values()]
        grid = make_grid(geometries, **options)
    log.info("grid %d x %d pixels of %.5f arcsec", grid.shape[1], grid.shape[0], grid.pixel_scale)
    write_grid(grid, sm.output[0])


run(main, snakemake.log[0])  # noqa: F821
