"""The demo's APCORR and ABVEGAOFFSET reference files, made from the simulator's PSF."""

from image3.job_server import hand_off

hand_off()  # run in the workflow's warm job server when one runs (image3/job_server.py)

from image3.jobs import run
from image3.simulate.reference_files import write_abvegaoffset, write_apcorr


def main():
    sm = snakemake  # noqa: F821
    write_apcorr(sm.output.apcorr, sm.params.filters)
    write_abvegaoffset(sm.output.abvegaoffset, sm.params.filters)


run(main, snakemake.log[0])  # noqa: F821
