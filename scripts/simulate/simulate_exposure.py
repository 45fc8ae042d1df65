"""Render one demo exposure as an official level-2b _cal.fits, with its cosmic-ray truth."""

from image3.job_server import hand_off

hand_off()  # run in the workflow's warm job server when one runs (image3/job_server.py)

from image3.io.atomic import atomic_path
from image3.io.level2b import save_model
from image3.jobs import run
from image3.simulate.dataset import render, write_artefact_truth


def main():
    sm = snakemake  # noqa: F821
    model, cosmic_rays, artefacts = render(
        sm.params.settings, sm.input.scene, sm.input.exposures, sm.wildcards.exposure
    )
    with atomic_path(sm.output.cosmic_rays) as tmp:
        cosmic_rays.write(tmp, format="ascii.ecsv", overwrite=True)
    write_artefact_truth(artefacts, sm.output.artefacts)
    save_model(model, sm.output.cal)


run(main, snakemake.log[0])  # noqa: F821
