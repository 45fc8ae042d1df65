"""Sky matching's QA figure for the report, from what skymatch measured."""

from image3.job_server import hand_off

hand_off()  # run in the workflow's warm job server when one runs (image3/job_server.py)

from image3.io.atomic import atomic_path
from image3.jobs import run
from image3.skymatch.levels import load_result
from image3.skymatch.qa import plot_skymatch


def main():
    sm = snakemake  # noqa: F821
    with atomic_path(sm.output[0]) as tmp:
        plot_skymatch(load_result(sm.input[0]), tmp)


run(main, snakemake.log[0])  # noqa: F821
