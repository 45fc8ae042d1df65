"""Report figure of a catalog: the mosaic with the sources marked, and their magnitudes."""

from image3.atomic import atomic_path
from image3.jobs import run
from image3.qa import plot_catalog


def main():
    sm = snakemake  # noqa: F821
    with atomic_path(sm.output[0]) as tmp:
        plot_catalog(sm.input.i2d, sm.input.cat, tmp)


run(main, snakemake.log[0])  # noqa: F821
