"""The real-sky demo's QA figure: the first exposure and the truth of its artefacts."""

from image3.job_server import hand_off

hand_off()  # run in the workflow's warm job server when one runs (image3/job_server.py)

from image3.io.atomic import atomic_path
from image3.jobs import run
from image3.simulate.qa import plot_artefacts


def main():
    sm = snakemake  # noqa: F821
    with atomic_path(sm.output[0]) as tmp:
        plot_artefacts(sm.input.cal, sm.input.artefacts, tmp)


run(main, snakemake.log[0])  # noqa: F821
