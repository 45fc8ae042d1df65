"""Write one exposure's _crf product (level-2b format with the final WCS, sky level and DQ)."""

from image3.jobs import run
from image3.products import SipSettings, write_crf


def main():
    sm = snakemake  # noqa: F821
    write_crf(sm.input.cal, sm.output[0], sm.params.asn_table, SipSettings(**sm.params.sip))


run(main, snakemake.log[0])  # noqa: F821
