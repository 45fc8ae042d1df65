"""Simulate the demo's scene, pointings and sky levels (the truth the exposures are rendered from)."""

from image3.job_server import hand_off

hand_off()  # run in the workflow's warm job server when one runs (image3/job_server.py)

from image3.jobs import run
from image3.simulate.dataset import plan, write_plan


def main():
    scene, exposures = plan(snakemake.params.settings)  # noqa: F821
    write_plan(scene, exposures, snakemake.output.scene, snakemake.output.exposures)  # noqa: F821


run(main, snakemake.log[0])  # noqa: F821
