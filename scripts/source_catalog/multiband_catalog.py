"""One catalog of all products on a common grid: detect once on the combined bands, measure each."""

from image3.job_server import hand_off

hand_off()  # run in the workflow's warm job server when one runs (image3/job_server.py)

import contextlib
import logging

from stdatamodels.jwst import datamodels

from image3.jobs import run
from image3.source_catalog.catalog import BandImage, multiband_catalog
from image3.source_catalog.products import empty_catalog, write_catalog_products
from image3.source_catalog.settings import CatalogSettings

log = logging.getLogger("image3")


def main():
    sm = snakemake  # noqa: F821
    settings = CatalogSettings(**sm.params.settings)
    with contextlib.ExitStack() as stack:
        models = [stack.enter_context(datamodels.open(path)) for path in sm.input.i2d]
        bands = [BandImage.from_model(m) for m in models]
        table, segm = multiband_catalog(bands, settings, sm.params.apcorr, sm.params.abvegaoffset)
        if table is None:
            log.warning("no sources detected in the combined bands")
            table, segm = empty_catalog(), bands[0].mask * 0
        # What CRDS named for each product when the workflow loaded (rules/common.smk), per band.
        for band, named in zip(bands, sm.params.get("crds") or [{}] * len(bands), strict=True):
            if named:
                log.info("%s: reference files from CRDS: %s", band.name, named)
                table.meta.setdefault(band.name, {}).update(named)
        log.info("%d sources in %s", len(table), ", ".join(b.name for b in bands))
        write_catalog_products(table, segm, models, sm.output)


run(main, snakemake.log[0])  # noqa: F821
