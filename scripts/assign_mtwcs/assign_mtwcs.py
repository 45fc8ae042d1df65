"""Add the moving-target frame to a product's aligned WCS (official assign_mtwcs, after tweakreg)."""

from image3.job_server import hand_off

hand_off()  # run in the workflow's warm job server when one runs (image3/job_server.py)

import logging

from image3.assign_mtwcs.moving_target import moving_target_wcs_set
from image3.io.fits_read import moving_target_position
from image3.jobs import run
from image3.wcs.store import load_wcs_set, save_wcs_set

log = logging.getLogger("image3")


def main():
    sm = snakemake  # noqa: F821
    positions = {
        name: moving_target_position(cal) for name, cal in zip(sm.params.exposures, sm.input.cal, strict=True)
    }
    wcs_set, (avra, avdec) = moving_target_wcs_set(load_wcs_set(sm.input.wcs), positions)
    for name, (ra, dec) in positions.items():
        log.info("%s: target at %.7f %.7f", name, ra, dec)
    log.info("mean target position mt_avra %.7f, mt_avdec %.7f", avra, avdec)
    save_wcs_set(sm.output[0], wcs_set, mt_avra=avra, mt_avdec=avdec)


run(main, snakemake.log[0])  # noqa: F821
