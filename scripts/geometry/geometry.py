"""Sample each exposure's final WCS on the pixel maps' coarse grid (the product's geometry file)."""

from image3.job_server import hand_off

hand_off()  # run in the workflow's warm job server when one runs (image3/job_server.py)

from image3.io.fits_read import image_shape
from image3.jobs import run
from image3.wcs.geometry import Geometry, write_geometries
from image3.wcs.store import load_wcs_set


def main():
    sm = snakemake  # noqa: F821
    wcs_set = load_wcs_set(sm.input.wcs)
    geometries = {
        name: Geometry.from_wcs(wcs_set[name], image_shape(cal), sm.params.step)
        for name, cal in zip(sm.params.exposures, sm.input.cal, strict=True)
    }
    write_geometries(sm.output[0], geometries)


run(main, snakemake.log[0])  # noqa: F821
