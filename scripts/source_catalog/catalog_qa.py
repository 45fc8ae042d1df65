"""The source catalog's QA figure for the report, from the mosaic and its catalog."""

from image3.job_server import hand_off

hand_off()  # run in the workflow's warm job server when one runs (image3/job_server.py)

from image3.io.atomic import atomic_path
from image3.jobs import run
from image3.source_catalog.qa import plot_catalog


def main():
    sm = snakemake  # noqa: F821
    with atomic_path(sm.output[0]) as tmp:
        plot_catalog(sm.input.i2d, sm.input.cat, tmp)


run(main, snakemake.log[0])  # noqa: F821
