"""Write one exposure's _crf product (level-2b format with the final WCS, sky level and DQ)."""

from image3.jobs import run
from image3.products import SipSettings, write_crf
from image3.sky_store import read_sky_entry


def main():
    sm = snakemake  # noqa: F821
    sky = read_sky_entry(sm.input.sky, sm.wildcards.exposure)
    write_crf(sm.input.cal, sm.output[0], sm.params.asn_table, SipSettings(**sm.params.sip), sky=sky)


run(main, snakemake.log[0])  # noqa: F821
