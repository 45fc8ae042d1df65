"""The mosaic's preview for the report, from the _i2d file."""

from image3.job_server import hand_off

hand_off()  # run in the workflow's warm job server when one runs (image3/job_server.py)

from image3.io.atomic import atomic_path
from image3.jobs import run
from image3.resample.qa import plot_mosaic


def main():
    sm = snakemake  # noqa: F821
    with atomic_path(sm.output[0]) as tmp:
        plot_mosaic(sm.input.i2d, tmp)


run(main, snakemake.log[0])  # noqa: F821
