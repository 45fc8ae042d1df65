"""Drizzle one exposure alone onto the product grid, for the outlier median.

Its sky is left in: the single needs no sky level, so it runs beside skymatch, and the median takes
each single's level off (drizzling is linear: the drizzle of SCI less a level is the drizzle less
that level).
"""

from image3.job_server import hand_off

hand_off()  # run in the workflow's warm job server when one runs (image3/job_server.py)

import dataclasses

from image3.io.atomic import atomic_path
from image3.io.fits_read import read_lean
from image3.jobs import run
from image3.outlier_detection.files import SingleImage, write_single
from image3.outlier_detection.outliers import single_image
from image3.resample.drizzle import Exposure, read_variances, weight_map
from image3.resample.grid import read_grid
from image3.resample.settings import DrizzleSettings
from image3.wcs.geometry import read_geometry


def main():
    sm = snakemake  # noqa: F821
    name = sm.wildcards.exposure
    settings = DrizzleSettings(**sm.params.drizzle)
    lean = read_lean(sm.input.cal, ("SCI", "DQ"))
    ivm = settings.weight_type == "ivm"  # VAR_RNOISE: the weights (absent or misshaped: weight 1)
    exposure = Exposure(
        data=lean.arrays["sci"],
        dq=lean.arrays["dq"],
        var_poisson=None,
        var_rnoise=read_variances(sm.input.cal, lean.shape, ("var_rnoise",))["var_rnoise"] if ivm else None,
        var_flat=None,
        wcs=None,
        exptime=lean.exptime,
        tmeasure=lean.tmeasure,
    )
    if sm.params.resample_data:
        grid, geometry = read_grid(sm.input.grid), read_geometry(sm.input.geometry, name)
        pixmap = geometry.pixel_map(grid.world_to_pixel)
        single = single_image(exposure, grid, settings, geometry.pixel_scale, pixmap=pixmap)
    else:  # exposures share one pixel grid: the "single image" is the exposure itself
        single = SingleImage(exposure.data, weight_map(exposure, settings))
    single = dataclasses.replace(single, subtracted_sky=lean.subtracted_sky)  # the median takes the rest
    with atomic_path(sm.output[0]) as tmp:
        write_single(tmp, single)


run(main, snakemake.log[0])  # noqa: F821
