"""Write the demo's image3 association listing the simulated exposures."""

from image3.job_server import hand_off

hand_off()  # run in the workflow's warm job server when one runs (image3/job_server.py)

from image3.io.association import write_association
from image3.io.atomic import atomic_path
from image3.jobs import run


def main():
    sm = snakemake  # noqa: F821
    with atomic_path(sm.output[0]) as tmp:
        write_association(tmp, sm.params.asn_id, sm.params.product, sm.params.members)


run(main, snakemake.log[0])  # noqa: F821
