"""Write one exposure's _crf product (level-2b format with the final WCS, sky level and DQ)."""

from image3.job_server import hand_off

hand_off()  # run in the workflow's warm job server when one runs (image3/job_server.py)

from image3.exposure_products.crf import write_crf
from image3.io.product_meta import SipSettings
from image3.jobs import run
from image3.outlier_detection.files import read_mask
from image3.skymatch.store import read_sky_entry
from image3.wcs.store import load_wcs_entry, load_wcs_record


def main():
    sm = snakemake  # noqa: F821
    steps, wcsinfo = load_wcs_record(sm.input.wcs, sm.params.steps)
    write_crf(
        sm.input.cal,
        sm.output[0],
        sm.params.asn_table,
        SipSettings(**sm.params.sip),
        asn_pool=sm.params.asn_pool,
        wcs=load_wcs_entry(sm.input.wcs, sm.wildcards.exposure),
        sky=read_sky_entry(sm.input.sky, sm.wildcards.exposure),
        outliers=read_mask(sm.input.outliers)[0],
        steps=steps,
        wcsinfo=wcsinfo,
    )


run(main, snakemake.log[0])  # noqa: F821
