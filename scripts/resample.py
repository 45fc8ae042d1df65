"""Drizzle a product's exposures (their _crf files) into the _i2d mosaic and draw its preview (or one
exposure alone into its own _i2d)."""

import logging

from image3.atomic import atomic_path
from image3.grid import native_pixel_scale, read_grid
from image3.jobs import run
from image3.level2b import open_level2b, save_model
from image3.products import SipSettings, build_i2d
from image3.qa import plot_mosaic
from image3.resample import DrizzleSettings, Exposure, Mosaic

log = logging.getLogger("image3")


def main():
    sm = snakemake  # noqa: F821
    grid = read_grid(sm.input.grid)
    settings = DrizzleSettings(**sm.params.drizzle)
    mosaic = Mosaic(grid, settings, len(sm.input.crf))
    reference = scale = None
    for path in sm.input.crf:
        model = open_level2b(path)
        scale = native_pixel_scale(model.meta.wcs, model.data.shape)
        mosaic.add(Exposure.from_model(model), scale)
        log.info("drizzled %s", path)
        if reference is None:
            reference = model
        else:
            model.close()
    i2d = build_i2d(
        mosaic.arrays(),
        grid,
        reference,
        settings,
        len(sm.input.crf),
        mosaic.exptime,
        scale,
        SipSettings(**sm.params.sip),
    )
    save_model(i2d, sm.output.i2d)
    if "preview" in sm.output.keys():  # the product's mosaic, not an exposure's own _i2d
        with atomic_path(sm.output.preview) as tmp:
            plot_mosaic(sm.output.i2d, tmp)


run(main, snakemake.log[0])  # noqa: F821
