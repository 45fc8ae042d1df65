"""Drizzle a product's exposures into the _i2d mosaic (or one exposure alone into its own _i2d, or
the exposures that reach one tile into the tile's _i2d).

It reads what the _crf files are made of, not the _crf files (which are written meanwhile, beside
it): each _cal file's arrays with astropy.io.fits, less its sky level, with its outlier mask in DQ,
and the pixel maps from the product's geometry file (the final WCS, sampled). Only the first _cal
is opened as a datamodel, for the metadata, recorded as its _crf file records it; the others'
headers are blended into it and listed in its HDRTAB (image3.resample.i2d.record_inputs).
"""

from image3.job_server import hand_off

hand_off()  # run in the workflow's warm job server when one runs (image3/job_server.py)

import logging

from image3.io.fits_read import read_lean
from image3.io.level2b import open_level2b, save_model
from image3.io.product_meta import SipSettings, record_image3_meta
from image3.jobs import run
from image3.outlier_detection.files import read_mask
from image3.resample.drizzle import Exposure, Mosaic, read_variances
from image3.resample.grid import read_grid
from image3.resample.i2d import build_i2d, record_inputs
from image3.resample.settings import DrizzleSettings
from image3.skymatch.store import read_sky_file
from image3.tiles.layout import tile_grid, tile_named
from image3.wcs.geometry import read_geometry
from image3.wcs.store import load_wcs_record

log = logging.getLogger("image3")


def main():
    sm = snakemake  # noqa: F821
    grid = product_grid = read_grid(sm.input.grid)
    if "tile" in sm.params.keys():  # a sub-array of the product grid
        t = sm.params.tile
        grid = tile_grid(grid, tile_named(grid.shape, t["name"], size=t["size"], margin=t["margin"]))
    settings = DrizzleSettings(**sm.params.drizzle)
    sky = read_sky_file(sm.input.sky)
    names = sm.params.exposures

    def load(k):
        """What Mosaic.add takes for exposure k, read from its files."""
        geometry = read_geometry(sm.input.geometry, names[k])
        path = sm.input.cal[k]
        lean = read_lean(path, ("SCI", "DQ"))
        mask = read_mask(sm.input.outliers[k])[0]
        log.info("drizzling %s", path)
        exposure = Exposure.from_lean(
            lean,
            read_variances(path, lean.shape),
            sky_level=sky[names[k]]["level"],
            outliers=mask,
        )
        return {
            "exposure": exposure,
            "native_scale": geometry.pixel_scale,
            "pixmap": geometry.pixel_map(grid.world_to_pixel),
            "name": names[k],
        }

    mosaic = Mosaic(grid, settings, len(names))
    mosaic.add_all(load, len(names), processes=sm.threads)
    geometry = read_geometry(sm.input.geometry, names[0])
    steps, wcsinfo = (
        load_wcs_record(sm.input.mtwcs, sm.params.steps) if sm.input.mtwcs else (sm.params.steps, None)
    )
    with open_level2b(sm.input.cal[0], validate_on_assignment=False) as reference:
        record_image3_meta(
            reference,
            sm.params.asn_table,
            asn_pool=sm.params.asn_pool,
            steps=steps,
            sky=sky[sm.params.exposures[0]],
            wcsinfo=wcsinfo,
        )
        i2d = build_i2d(
            mosaic.arrays(),
            grid,
            reference,
            settings,
            mosaic.n_added,
            mosaic.exptime,
            geometry.pixel_scale,
            SipSettings(**sm.params.sip),
            pixel_scale_ratio=product_grid.pixel_scale_ratio,
        )
        used = [path for path, used in zip(sm.input.cal, mosaic.used, strict=True) if used]
        record_inputs(i2d, used or list(sm.input.cal))  # none drizzled: an empty mosaic of them all
        save_model(i2d, sm.output.i2d)


run(main, snakemake.log[0])  # noqa: F821
