"""The per-product ``_i2d`` mosaic in the official format (ImageModel)."""

import numpy as np
from stdatamodels.jwst import datamodels

from ..io.level2b import set_fits_wcs
from ..wcs.jwst_wcs import s_region

__all__ = ["build_i2d"]


def build_i2d(arrays, grid, reference, settings, n_inputs, exptime, native_scale, sip):
    """The ``_i2d`` ImageModel: mosaic arrays, grid WCS and metadata taken from ``reference``.

    ``reference`` is the first exposure's model (instrument, observation and photometry metadata);
    ``exptime`` the summed exposure time in s; ``native_scale`` the input pixel scale in arcsec.
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
    area_sr = (grid.pixel_scale * np.pi / 180.0 / 3600.0) ** 2
    meta.photometry.pixelarea_steradians = area_sr
    meta.photometry.pixelarea_arcsecsq = grid.pixel_scale**2
    meta.resample.pixfrac = settings.pixfrac
    meta.resample.weight_type = settings.weight_type
    meta.resample.pointings = n_inputs
    meta.resample.pixel_scale_ratio = grid.pixel_scale / native_scale
    meta.exposure.exposure_time = exptime
    meta.cal_step.resample = "COMPLETE"
    return model
