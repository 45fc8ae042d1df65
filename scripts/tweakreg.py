"""Align a product's exposures to each other (and to a reference catalog); save their WCS, the
alignment report and the match residuals."""

from image3.job_server import hand_off

hand_off()  # run in the workflow's warm job server when one runs (image3/job_server.py)

import logging

from astropy.table import Table

from image3 import alignment
from image3.atomic import atomic_path
from image3.exposure_groups import group_id
from image3.fits_read import read_gwcs, read_lean
from image3.jobs import run
from image3.tweakreg_qa import match_residuals
from image3.wcs_store import save_wcs_set

log = logging.getLogger("image3")


def load(cal_paths, catalog_paths, names, group_exposures):
    """ExposureCatalogs (and the mid-exposure MJD of the first) from the inputs' headers and
    gwcs (no datamodel); with ``group_exposures`` the files of one exposure share a group (move
    together)."""
    exposures, mjd = [], None
    for cal, cat, name in zip(cal_paths, catalog_paths, names, strict=True):
        lean = read_lean(cal, extensions=())
        group = group_id(lean.observation, name, group_exposures=group_exposures)
        exposures.append(
            alignment.ExposureCatalog(
                name, group, read_gwcs(cal), lean.reference_angles, Table.read(cat), lean.shape
            )
        )
        mjd = mjd or lean.mid_time
    return exposures, mjd


def main():
    sm = snakemake  # noqa: F821
    p = sm.params
    exposures, mjd = load(sm.input.cal, sm.input.catalogs, p.exposures, p.group_exposures)
    if not p.skip:
        fit = alignment.FitSettings(**p.fit)
        alignment.align_relative(
            exposures, fit, p.enforce_user_order, p.expand_refcat, p.refine_tolerance, p.global_fit
        )
        if sm.input.refcat:
            refcat = alignment.read_reference_catalog(sm.input.refcat, p.abs_epoch, mjd)
            alignment.align_absolute(
                exposures, refcat, alignment.FitSettings(**p.abs_fit), p.refine_tolerance
            )
    report = alignment.report(exposures)
    log.info("alignment report:\n%s", "\n".join(report.pformat(max_lines=-1, max_width=-1)))
    with atomic_path(sm.output.report) as tmp:
        report.write(tmp, format="ascii.ecsv")
    residuals = match_residuals(exposures)
    with atomic_path(sm.output.residuals) as tmp:
        residuals.write(tmp, format="ascii.ecsv")
    save_wcs_set(sm.output.wcs, {e.name: e.wcs for e in exposures})


run(main, snakemake.log[0])  # noqa: F821
