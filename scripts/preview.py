"""Preview PNG of a mosaic for the Snakemake report."""

from image3.atomic import atomic_path
from image3.jobs import run
from image3.qa import plot_mosaic


def main():
    sm = snakemake  # noqa: F821
    with atomic_path(sm.output[0]) as tmp:
        plot_mosaic(sm.input[0], tmp)


run(main, snakemake.log[0])  # noqa: F821
