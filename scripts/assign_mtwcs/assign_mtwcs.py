"""Add the moving-target frame to a product's aligned WCS (official assign_mtwcs, after tweakreg)."""

from image3.job_server import hand_off

hand_off()  # run in the workflow's warm job server when one runs (image3/job_server.py)

import logging

from image3.assign_mtwcs.moving_target import assign_moving_target
from image3.io.fits_read import moving_target_position
from image3.jobs import run
from image3.wcs.store import load_wcs_set, save_wcs_set

log = logging.getLogger("image3")


def main():
    sm = snakemake  # noqa: F821
    files = dict(zip(sm.params.exposures, sm.input.cal, strict=True))
    positions = {name: moving_target_position(cal) for name, cal in files.items()}
    wcs_set, extras = assign_moving_target(load_wcs_set(sm.input.wcs), positions, files)
    for name, position in positions.items():
        if position is not None:
            log.info("%s: target at %.7f %.7f", name, *position)
    if "mt_avra" in extras:
        log.info("mean target position mt_avra %.7f, mt_avdec %.7f", extras["mt_avra"], extras["mt_avdec"])
    save_wcs_set(sm.output[0], wcs_set, **extras)


run(main, snakemake.log[0])  # noqa: F821
