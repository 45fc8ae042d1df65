"""Alignment QA figure for the report: residual vectors and applied corrections."""

from astropy.table import Table

from image3.atomic import atomic_path
from image3.jobs import run
from image3.tweakreg_qa import plot_alignment


def main():
    sm = snakemake  # noqa: F821
    with atomic_path(sm.output[0]) as tmp:
        plot_alignment(Table.read(sm.input.report), Table.read(sm.input.residuals), tmp)


run(main, snakemake.log[0])  # noqa: F821
