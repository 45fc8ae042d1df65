"""The alignment's QA figure for the report, from tweakreg's report and match residuals."""

from image3.job_server import hand_off

hand_off()  # run in the workflow's warm job server when one runs (image3/job_server.py)

from astropy.table import Table

from image3.io.atomic import atomic_path
from image3.jobs import run
from image3.tweakreg.qa import plot_alignment


def main():
    sm = snakemake  # noqa: F821
    report = Table.read(sm.input.report, format="ascii.ecsv")
    residuals = Table.read(sm.input.residuals, format="ascii.ecsv")
    with atomic_path(sm.output[0]) as tmp:
        plot_alignment(report, residuals, tmp)


run(main, snakemake.log[0])  # noqa: F821
