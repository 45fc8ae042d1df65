"""Median of a product's single images, in row sections of bounded memory, written as they come."""

from image3.job_server import hand_off

hand_off()  # run in the workflow's warm job server when one runs (image3/job_server.py)

import logging

from image3.io.atomic import atomic_path
from image3.jobs import run
from image3.outlier_detection.files import grid_shape, median_sections, write_median_sections
from image3.skymatch.store import read_sky_file

log = logging.getLogger("image3")


def main():
    sm = snakemake  # noqa: F821
    if len(sm.input.singles) == 2:
        log.warning("only two exposures: the median is their lower value, a weaker estimate")
    sky = read_sky_file(sm.input.sky)
    sections = median_sections(
        sm.input.singles,
        sm.params.maskpt,
        sm.params.max_memory_mb,
        sky_levels=[sky[name]["level"] for name in sm.params.exposures],
    )
    with atomic_path(sm.output[0]) as tmp:
        write_median_sections(tmp, grid_shape(sm.input.singles[0]), sections)


run(main, snakemake.log[0])  # noqa: F821
