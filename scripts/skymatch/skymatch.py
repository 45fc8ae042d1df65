"""Measure the sky level of each exposure of a product (skymatch); save the levels and what they
came from (for the QA figure)."""

from image3.job_server import hand_off

hand_off()  # run in the workflow's warm job server when one runs (image3/job_server.py)

import logging

from image3.jobs import run
from image3.skymatch.levels import save_result
from image3.skymatch.settings import SkySettings
from image3.skymatch.sky import measure_files, user_sky
from image3.skymatch.store import write_sky_file
from image3.wcs.geometry import read_geometries

log = logging.getLogger("image3")


def main():
    sm = snakemake  # noqa: F821
    settings = SkySettings(**sm.params.settings)
    names = sm.params.exposures
    if settings.skymethod == "user":
        result = user_sky(settings.skylist, names, files=sm.input.cal)
    else:
        result = measure_files(sm.input.cal, names, settings, read_geometries(sm.input.geometry))
    for name, level in result.levels.items():
        log.info("%s: level %.6f MJy/sr (%s)", name, level, result.method)
    write_sky_file(sm.output.sky, result.levels, settings.subtract, result.method)
    save_result(result, sm.output.result)


run(main, snakemake.log[0])  # noqa: F821
