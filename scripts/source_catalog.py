"""Detect and measure the sources of one mosaic: _cat.ecsv, _segm.fits and a ds9 regions file."""

import logging

from stdatamodels.jwst import datamodels

from image3.catalog_products import empty_catalog, write_catalog, write_regions, write_segmentation
from image3.jobs import run
from image3.source_catalog import BandImage, CatalogSettings, single_band_catalog

log = logging.getLogger("image3")


def main():
    sm = snakemake  # noqa: F821
    settings = CatalogSettings(**sm.params.settings)
    with datamodels.open(sm.input.i2d) as model:
        band = BandImage.from_model(model)
        table, segm = single_band_catalog(band, settings, sm.params.apcorr, sm.params.abvegaoffset)
        if table is None:
            log.warning("%s: no sources detected", sm.input.i2d)
            table, segm = empty_catalog(), band.mask * 0
        log.info("%d sources", len(table))
        write_segmentation(segm, model, sm.output.segm)
        scale = model.meta.photometry.pixelarea_arcsecsq**0.5
    radius = scale * max(table.meta.get("aperture_radii_pix", [0.0]))
    write_regions(table, radius, sm.output.regions)
    write_catalog(table, sm.output.cat)


run(main, snakemake.log[0])  # noqa: F821
