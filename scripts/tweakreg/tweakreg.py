"""Align a product's exposures to each other (and to a reference catalog); save their WCS, the
alignment report and the match residuals."""

from image3.job_server import hand_off

hand_off()  # run in the workflow's warm job server when one runs (image3/job_server.py)

import logging

from image3.io.atomic import atomic_path
from image3.jobs import run
from image3.tweakreg import alignment
from image3.tweakreg.qa import match_residuals
from image3.tweakreg.settings import FitSettings
from image3.wcs.store import save_wcs_set

log = logging.getLogger("image3")


def main():
    sm = snakemake  # noqa: F821
    p = sm.params
    exposures, mjd = alignment.load_exposure_catalogs(
        sm.input.cal, sm.input.catalogs, p.exposures, group_exposures=p.group_exposures
    )
    if not p.skip:
        fit = FitSettings(**p.fit)
        alignment.align_relative(
            exposures, fit, p.enforce_user_order, p.expand_refcat, p.refine_tolerance, p.global_fit
        )
        if sm.input.refcat:
            refcat = alignment.read_reference_catalog(sm.input.refcat, p.abs_epoch, mjd)
            alignment.align_absolute(exposures, refcat, FitSettings(**p.abs_fit), p.refine_tolerance)
    report = alignment.report(exposures)
    log.info("alignment report:\n%s", "\n".join(report.pformat(max_lines=-1, max_width=-1)))
    with atomic_path(sm.output.report) as tmp:
        report.write(tmp, format="ascii.ecsv")
    residuals = match_residuals(exposures)
    with atomic_path(sm.output.residuals) as tmp:
        residuals.write(tmp, format="ascii.ecsv")
    save_wcs_set(sm.output.wcs, {e.name: e.wcs for e in exposures})


run(main, snakemake.log[0])  # noqa: F821
