"""The per-product ``_i2d`` mosaic in the official format (ImageModel)."""

import numpy as np
from stdatamodels.jwst import datamodels

from ..io.blend import blend_values, header_table, read_blend_row
from ..io.level2b import set_fits_wcs
from ..wcs.jwst_wcs import s_region

__all__ = ["DETECTOR_WCSINFO", "build_i2d", "pc_cdelt", "recorded_scale_ratio", "record_inputs"]

DETECTOR_WCSINFO = ("v2_ref", "v3_ref", "ra_ref", "dec_ref", "roll_ref", "v3yangle", "vparity")
"""``meta.wcsinfo`` fields that place one detector's aperture in the telescope's frame: the first
input's would describe that detector, not the mosaic's grid, so the ``_i2d`` leaves them out (as
the official resample does)."""


def build_i2d(
    arrays, grid, reference, settings, n_inputs, exptime, native_scale, sip, *, pixel_scale_ratio=None
):
    """The ``_i2d`` ImageModel: mosaic arrays, grid WCS and metadata taken from ``reference``.

    ``reference`` is the first exposure's model (instrument, observation and photometry metadata);
    ``exptime`` the summed exposure time in s; ``native_scale`` the first input's pixel scale in
    arcsec measured from its WCS; ``meta.resample`` records the drizzle's ``settings``
    (``kernel`` and ``fillval`` in the ASDF tree only: the schema gives them no FITS keyword) and
    the pixel scale ratio (:func:`recorded_scale_ratio`). As the official step, the header keeps
    none of the first input's detector placement (``DETECTOR_WCSINFO``) or background level (the
    mosaic's sky is not one exposure's), and its FITS WCS is PC + CDELT (:func:`pc_cdelt`).
    :func:`record_inputs` then replaces the counts and times taken from the drizzle by the
    official blend of the inputs' headers.
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
    pc_cdelt(meta.wcsinfo)
    for key in DETECTOR_WCSINFO:
        setattr(meta.wcsinfo, key, None)
    meta.background.level = meta.background.subtracted = None
    area_sr = (grid.pixel_scale * np.pi / 180.0 / 3600.0) ** 2
    meta.photometry.pixelarea_steradians = area_sr
    meta.photometry.pixelarea_arcsecsq = grid.pixel_scale**2
    meta.resample.pixfrac = settings.pixfrac
    meta.resample.kernel = settings.kernel
    meta.resample.fillval = settings.fillval
    meta.resample.weight_type = settings.weight_type
    meta.resample.pointings = n_inputs
    meta.resample.pixel_scale_ratio = recorded_scale_ratio(grid, reference, native_scale, pixel_scale_ratio)
    meta.exposure.exposure_time = exptime
    meta.cal_step.resample = "COMPLETE"
    return model


def recorded_scale_ratio(grid, reference, native_scale, pixel_scale_ratio=None) -> float:
    """``meta.resample.pixel_scale_ratio`` (PXSCLRT) as the official step records it: the
    ``pixel_scale_ratio`` the grid was made with (``grid.pixel_scale_ratio``, or the argument for
    a tile of it), else the grid's pixel scale over the first input's nominal one, the square root
    of its PIXAR_A2 (``reference``'s ``meta.photometry.pixelarea_arcsecsq``), or, without it, its
    scale measured from its WCS (``native_scale``, arcsec)."""
    ratio = grid.pixel_scale_ratio if pixel_scale_ratio is None else pixel_scale_ratio
    if ratio is not None:
        return float(ratio)
    area = reference.meta.photometry.pixelarea_arcsecsq
    return grid.pixel_scale / (float(np.sqrt(area)) if area and area > 0 else native_scale)


def pc_cdelt(wcsinfo) -> None:
    """Rewrite the linear part of ``wcsinfo``'s FITS WCS from a CD matrix (deg/pixel) to PC +
    CDELT, as the official step writes it: CDELT1 = CDELT2 = sqrt(|det CD|) and PC = CD / CDELT
    (the same world coordinates); the CD keywords are removed. No CD matrix: unchanged."""
    keys = ("cd1_1", "cd1_2", "cd2_1", "cd2_2")
    cd = [getattr(wcsinfo, k, None) for k in keys]
    if any(v is None for v in cd):
        return
    scale = float(np.sqrt(abs(cd[0] * cd[3] - cd[1] * cd[2])))
    wcsinfo.cdelt1 = wcsinfo.cdelt2 = scale
    for (row, col), value, key in zip(((1, 1), (1, 2), (2, 1), (2, 2)), cd, keys, strict=True):
        setattr(wcsinfo, f"pc{row}_{col}", float(value) / scale)
        setattr(wcsinfo, key, None)


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
