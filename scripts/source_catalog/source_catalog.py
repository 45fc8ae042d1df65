"""Detect and measure the sources of one mosaic (a product's or a tile's): _cat.ecsv, _segm.fits and a
ds9 regions file."""

from image3.job_server import hand_off

hand_off()  # run in the workflow's warm job server when one runs (image3/job_server.py)

import logging

from stdatamodels.jwst import datamodels

from image3.jobs import run
from image3.source_catalog.catalog import BandImage, single_band_catalog
from image3.source_catalog.products import empty_catalog, write_catalog_products
from image3.source_catalog.settings import CatalogSettings

log = logging.getLogger("image3")


def main():
    sm = snakemake  # noqa: F821
    settings = CatalogSettings(**sm.params.settings)
    crds = sm.params.get("crds", {})  # what CRDS named when the workflow loaded (rules/common.smk)
    if crds:
        log.info("reference files from CRDS: %s", crds)
    with datamodels.open(sm.input.i2d) as model:
        band = BandImage.from_model(model)
        table, segm = single_band_catalog(band, settings, sm.params.apcorr, sm.params.abvegaoffset)
        if table is None:
            log.warning("%s: no sources detected", sm.input.i2d)
            table, segm = empty_catalog(), band.mask * 0
        table.meta.update(crds)
        log.info("%d sources", len(table))
        write_catalog_products(table, segm, [model], sm.output)


run(main, snakemake.log[0])  # noqa: F821
