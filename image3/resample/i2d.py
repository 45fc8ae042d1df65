"""The per-product ``_i2d`` mosaic in the official format (ImageModel)."""

import numpy as np
from stdatamodels.jwst import datamodels

from ..io.blend import blend_values, header_table, read_blend_row
from ..io.level2b import set_fits_wcs
from ..wcs.jwst_wcs import s_region

__all__ = ["DETECTOR_WCSINFO", "build_i2d", "record_inputs"]

DETECTOR_WCSINFO = ("v2_ref", "v3_ref", "ra_ref", "dec_ref", "roll_ref", "v3yangle", "vparity")
"""``meta.wcsinfo`` fields that place one detector's aperture in the telescope's frame: the first
input's would describe that detector, not the mosaic's grid, so the ``_i2d`` leaves them out (as
the official resample does)."""


def build_i2d(arrays, grid, reference, settings, n_inputs, exptime, native_scale, sip):
    """The ``_i2d`` ImageModel: mosaic arrays, grid WCS and metadata taken from ``reference``.

    ``reference`` is the first exposure's model (instrument, observation and photometry metadata);
    ``exptime`` the summed exposure time in s; ``native_scale`` the input pixel scale in arcsec;
    ``meta.resample`` records the drizzle's ``settings`` (``kernel`` and ``fillval`` in the ASDF
    tree only: the schema gives them no FITS keyword). :func:`record_inputs` then replaces the
    counts and times taken from the drizzle by the official blend of the inputs' headers.
    """
    model = datamodels.ImageModel(data=arrays["data"].astype(np.float32), validate_on_assignment=False)
    model.update(reference)
    model.err = arrays["err"]
    model.wht = arrays["wht"].astype(np.float32)
    model.con = arrays["con"].astype(np.int32)
    for name in ("var_poisson", "var_rnoise", "var_flat"):
        setattr(model, name, arrays[name])
    meta = model.meta
    meta.bunit_data = meta.bunit_err = "MJy/sr"
    meta.wcs = grid.wcs
    meta.wcsinfo.s_region = s_region(grid.wcs, grid.shape)
    set_fits_wcs(model, grid.wcs, grid.shape, sip.max_pix_error, sip.degree, sip.npoints)
    for key in DETECTOR_WCSINFO:
        setattr(meta.wcsinfo, key, None)
    area_sr = (grid.pixel_scale * np.pi / 180.0 / 3600.0) ** 2
    meta.photometry.pixelarea_steradians = area_sr
    meta.photometry.pixelarea_arcsecsq = grid.pixel_scale**2
    meta.resample.pixfrac = settings.pixfrac
    meta.resample.kernel = settings.kernel
    meta.resample.fillval = settings.fillval
    meta.resample.weight_type = settings.weight_type
    meta.resample.pointings = n_inputs
    meta.resample.pixel_scale_ratio = grid.pixel_scale / native_scale
    meta.exposure.exposure_time = exptime
    meta.cal_step.resample = "COMPLETE"
    return model


def record_inputs(model, paths):
    """Record in an ``_i2d`` model what its inputs (the files drizzled into it, in order) were, as
    the official resample's model blender does: the blended keywords (:mod:`image3.io.blend`;
    EXPSTART the earliest, EXPEND the latest, exposure times summed over exposures, ...), the
    ``HDRTAB`` extension (one row per input) and ``meta.resample.pointings`` (NDRIZ: the number of
    exposures, the detectors of one exposure counting once)."""
    rows, groups = zip(*(read_blend_row(p) for p in paths), strict=True)
    for attr, value in blend_values(rows, groups).items():
        model[attr] = value
    table = header_table(rows)
    model.add_schema_entry("hdrtab", _table_schema(table))
    model.hdrtab = table
    model.meta.resample.pointings = len(set(groups))


def _table_schema(table) -> dict:
    """The datamodel schema entry of the HDRTAB table (as the official blender writes it)."""
    columns = []
    for name in table.dtype.names:
        dtype = table.dtype[name]
        kind = ["ascii", max(dtype.itemsize // 4, 1)] if dtype.kind == "U" else str(dtype)
        columns.append({"name": name, "datatype": kind})
    return {"title": "Combined header table", "fits_hdu": "HDRTAB", "datatype": columns}
