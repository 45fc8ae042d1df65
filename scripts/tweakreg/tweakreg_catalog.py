"""Detect the point sources of one exposure for alignment (or take the user's catalog)."""

from image3.job_server import hand_off

hand_off()  # run in the workflow's warm job server when one runs (image3/job_server.py)

import logging

from astropy.table import Table

from image3.errors import InputError
from image3.io.atomic import atomic_path
from image3.io.fits_read import read_lean
from image3.jobs import run
from image3.tweakreg.settings import DetectionSettings
from image3.tweakreg.source_finding import find_sources_sparse, star_finder_for
from image3.utils.psf_width import detection_fwhm

log = logging.getLogger("image3")


def custom_catalog(path):
    """A user catalog with x, y (or xcentroid, ycentroid) in 0-based pixels."""
    table = Table.read(path)
    for x, y in (("x", "y"), ("xcentroid", "ycentroid")):
        if x in table.colnames and y in table.colnames:
            return Table({"x": table[x], "y": table[y]})
    raise InputError(f"tweakreg.custom_catalogs: {path} has no x/y or xcentroid/ycentroid columns")


def main():
    sm = snakemake  # noqa: F821
    if sm.input.custom:
        catalog = custom_catalog(sm.input.custom)
        log.info("using the custom catalog %s", sm.input.custom)
    else:
        exposure = read_lean(sm.input.cal)
        settings = DetectionSettings(**sm.params.detection)
        fwhm = settings.kernel_fwhm or detection_fwhm(exposure.filter, exposure.pixel_scale)
        catalog = find_sources_sparse(
            exposure.arrays["sci"],
            exposure.arrays["dq"],
            fwhm,
            settings,
            minobj=sm.params.minobj,
            sparse_snr_threshold=sm.params.sparse_snr_threshold,
        )
        catalog.meta["kernel_fwhm"] = fwhm
        catalog.meta["starfinder"] = star_finder_for(settings.starfinder, fwhm)
        log.info(
            "star finder %s (%s), kernel FWHM %.2f pixels",
            catalog.meta["starfinder"],
            settings.starfinder,
            fwhm,
        )
    log.info("%d sources", len(catalog))
    with atomic_path(sm.output[0]) as tmp:
        catalog.write(tmp, format="ascii.ecsv")


run(main, snakemake.log[0])  # noqa: F821
