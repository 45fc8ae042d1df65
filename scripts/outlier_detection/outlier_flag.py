"""Blot the median back onto one exposure and flag its outliers (a mask side file)."""

from image3.job_server import hand_off

hand_off()  # run in the workflow's warm job server when one runs (image3/job_server.py)

import logging

import numpy as np

from image3.io.atomic import atomic_path
from image3.io.dq import good_pixels
from image3.io.fits_read import read_lean
from image3.jobs import run
from image3.outlier_detection.files import read_median, write_mask
from image3.outlier_detection.outliers import blotted_median, flag_outliers
from image3.outlier_detection.settings import FlagSettings
from image3.outlier_detection.spikes import spike_directions
from image3.resample.grid import read_grid
from image3.skymatch.store import read_sky_entry
from image3.wcs.geometry import read_geometry

log = logging.getLogger("image3")


def main():
    sm = snakemake  # noqa: F821
    name = sm.wildcards.exposure
    lean = read_lean(sm.input.cal, ("SCI", "DQ", "ERR"))
    data, err = lean.arrays["sci"], lean.arrays["err"]
    if sm.params.n_exposures < 2:
        log.warning("one exposure: outlier detection skipped")
        mask, psf_term = np.zeros(data.shape, bool), [0.0, 0.0]
    else:
        geometry = read_geometry(sm.input.geometry, name)
        if sm.params.resample_data:  # the median where this exposure lies on the grid, blotted
            grid = read_grid(sm.input.grid)
            pixmap = geometry.pixel_map(grid.world_to_pixel)
            blotted, coverage = blotted_median(sm.input.median, pixmap, grid.shape)
        else:
            blotted, coverage = read_median(sm.input.median)
            blotted = np.nan_to_num(blotted)
        sky = lean.remaining_sky(read_sky_entry(sm.input.sky, name)["level"])
        usable = good_pixels(lean.arrays["dq"], sm.params.good_bits, "outlier_detection.good_bits")
        settings = FlagSettings(**sm.params.flag)
        v3_pa = lean.reference_angles.get("roll_ref")
        if v3_pa is None and settings.spike_reach > 0:
            log.warning("no ROLL_REF: diffraction spikes' directions unknown, no spike test")
        directions = None if v3_pa is None else spike_directions(geometry, v3_pa)
        mask, psf_term = flag_outliers(data, err, blotted, coverage, sky, settings, usable, directions)
    log.info(
        "%d pixels flagged (%.4f %%), psf_term %.3f (%.3f where two overlap)",
        mask.sum(),
        100 * mask.mean(),
        *psf_term,
    )
    with atomic_path(sm.output[0]) as tmp:
        write_mask(
            tmp,
            mask,
            nflagged=int(mask.sum()),
            fraction=float(mask.mean()),
            psfterm=psf_term[0],
            psfterm2=psf_term[1],
        )


run(main, snakemake.log[0])  # noqa: F821
