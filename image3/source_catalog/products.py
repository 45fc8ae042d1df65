"""The source catalog's files: ``_cat.ecsv``, ``_segm.fits`` and a ds9 regions file.

Positions in the regions file are ICRS degrees, circle radii in arcsec (the largest photometric
aperture), labels the catalog's ``label``.
"""

import numpy as np
from astropy.table import QTable
from stdatamodels.jwst import datamodels

from ..io.atomic import atomic_path
from ..io.level2b import save_model
from ..io.provenance import provenance_meta, record_provenance

__all__ = [
    "empty_catalog",
    "regions_radius_arcsec",
    "write_catalog",
    "write_catalog_products",
    "write_regions",
]

FORMATS = {"xcentroid": ".4f", "ycentroid": ".4f", "sharpness": ".6f", "roundness": ".6f"}


def _format_columns(table):
    """Readable text formats: 4 decimals for pixel centroids and concentration indices, 6 for
    shapes and magnitudes, 6 significant digits for fluxes."""
    for name in table.colnames:
        if name in FORMATS:
            table[name].info.format = FORMATS[name]
        elif "CI_" in name:
            table[name].info.format = ".4f"
        elif "flux" in name:
            table[name].info.format = ".6e"
        elif "mag" in name or name in ("nn_dist", "semimajor_sigma", "semiminor_sigma", "ellipticity"):
            table[name].info.format = ".6f"
        elif "orientation" in name:
            table[name].info.format = ".6f"
    return table


def empty_catalog(meta=None):
    """The catalog of a mosaic where nothing was detected."""
    table = QTable(names=("label", "xcentroid", "ycentroid"), dtype=(int, float, float))
    table.meta.update(meta or {})
    return table


def write_catalog(table, path):
    """Write the catalog as ECSV (units and sky coordinates kept), atomically."""
    with atomic_path(path) as tmp:
        _format_columns(table).write(tmp, format="ascii.ecsv", overwrite=True)


def _write_segmentation(segm, reference, pool_name, path):
    """The segmentation map (uint32 labels, 0 = background) as a SegmentationMapModel on the
    mosaic's grid, with the mosaic's primary metadata and WCS, and our provenance (the pool
    ``pool_name``)."""
    model = datamodels.SegmentationMapModel(segm.astype(np.uint32))
    model.update(reference, only="PRIMARY")
    model.meta.wcs = reference.meta.wcs
    model.meta.wcsinfo = reference.meta.wcsinfo
    record_provenance(model, pool_name)
    save_model(model, path)


def _regions_text(table, radius_arcsec, colour="green"):
    """ds9 regions: one fk5 circle per source, extended sources dashed, labelled."""
    lines = ["# Region file format: DS9 version 4.1", f"global color={colour}", "fk5"]
    if "sky_centroid" not in table.colnames:
        return "\n".join(lines) + "\n"
    extended = table["is_extended"] if "is_extended" in table.colnames else np.zeros(len(table), bool)
    coords = table["sky_centroid"]
    for label, ext, ra, dec in zip(table["label"], extended, coords.ra.deg, coords.dec.deg, strict=True):
        dash = " dash=1" if ext else ""
        lines.append(f'circle({ra:.7f},{dec:.7f},{radius_arcsec:.3f}") # text={{{label}}}{dash}')
    return "\n".join(lines) + "\n"


def write_regions(table, radius_arcsec, path):
    """Write :func:`_regions_text` atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "w") as f:
            f.write(_regions_text(table, radius_arcsec))


def regions_radius_arcsec(table, pixel_scale):
    """Radius (arcsec) of the regions' circles: the largest aperture of any band (or tile) whose
    metadata the catalog carries, in its own meta or one level down; ``pixel_scale`` in arcsec."""
    metas = [table.meta, *(m for m in table.meta.values() if isinstance(m, dict))]
    radii = [max(m["aperture_radii_pix"]) for m in metas if "aperture_radii_pix" in m]
    return pixel_scale * max(radii, default=0.0)


def write_catalog_products(table, segm, references, paths):
    """The catalog (``paths.cat``), segmentation map (``paths.segm``, on the first of the mosaics
    ``references``' grid) and ds9 regions (``paths.regions``, circles of the largest aperture of
    any band). Both files record our software and the mosaics' association pools
    (:mod:`image3.io.provenance`)."""
    reference = references[0]
    provenance = provenance_meta([m.meta.asn.pool_name for m in references])
    table.meta.update(provenance)
    _write_segmentation(segm, reference, provenance.get("ASNPOOL"), paths.segm)
    scale = float(np.sqrt(reference.meta.photometry.pixelarea_arcsecsq))
    write_regions(table, regions_radius_arcsec(table, scale), paths.regions)
    write_catalog(table, paths.cat)
