"""The demo's APCORR and ABVEGAOFFSET reference files, made from the simulator's PSF."""

from image3.job_server import hand_off

hand_off()  # run in the workflow's warm job server when one runs (image3/job_server.py)

from image3.jobs import run
from image3.simulate.dataset import pixel_scale
from image3.simulate.reference_files import write_abvegaoffset, write_apcorr


def main():
    sm = snakemake  # noqa: F821
    scale = pixel_scale(sm.params.settings)
    write_apcorr(sm.output.apcorr, sm.params.filters, pupil=sm.params.pupil, pixel_scale=scale)
    write_abvegaoffset(sm.output.abvegaoffset, sm.params.filters, pupil=sm.params.pupil)


run(main, snakemake.log[0])  # noqa: F821
