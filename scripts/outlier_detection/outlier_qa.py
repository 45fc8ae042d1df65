"""Outlier-detection QA figure for the report: fraction flagged and cut-outs."""

from image3.job_server import hand_off

hand_off()  # run in the workflow's warm job server when one runs (image3/job_server.py)

from image3.io.atomic import atomic_path
from image3.io.fits_read import read_lean
from image3.jobs import run
from image3.outlier_detection.files import read_mask
from image3.outlier_detection.qa import CUTOUT_EXPOSURES, plot_outliers


def main():
    sm = snakemake  # noqa: F821
    fractions, masks = [], []
    for k, path in enumerate(sm.input.masks):
        mask = read_mask(path)[0]
        fractions.append(mask.mean())
        if k < CUTOUT_EXPOSURES:  # only the masks the cut-outs show are kept
            masks.append(mask)
    images = [read_lean(p).arrays["sci"] for p in sm.input.cal[:CUTOUT_EXPOSURES]]
    with atomic_path(sm.output[0]) as tmp:
        plot_outliers(sm.params.exposures, fractions, masks, images, tmp)


run(main, snakemake.log[0])  # noqa: F821
