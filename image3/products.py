"""The pipeline's products in official formats: per-exposure ``_crf`` and per-product ``_i2d``."""

from dataclasses import dataclass

import numpy as np
from stdatamodels.jwst import datamodels

from .dq import with_outliers
from .jwst_wcs import s_region
from .level2b import open_level2b, save_model, set_fits_wcs


@dataclass(frozen=True)
class SipSettings:
    """SIP approximation written into SCI headers (``sip_max_pix_error`` in pixels)."""

    max_pix_error: float = 0.01
    degree: int | None = None
    npoints: int = 12


def write_crf(
    cal_path,
    crf_path,
    asn_table: str,
    sip: SipSettings,
    wcs=None,
    sky=None,
    outliers=None,
    steps=None,
    wcsinfo=None,
):
    """Write an exposure's ``_crf`` product: the level-2b file with the final WCS, sky and DQ.

    ``wcs`` replaces the file's gwcs (the aligned one); ``sky`` is a dict with the
    ``meta.background`` fields (``level`` MJy/sr, ``subtracted``, ``method``) when sky matching ran;
    with ``subtracted`` the level is taken off SCI (less any level the input had already
    subtracted). ``outliers`` is a boolean mask whose pixels get DQ OUTLIER and DO_NOT_USE;
    ``asn_table``, ``steps`` and ``wcsinfo``: see :func:`record_image3_meta`. The SCI header
    carries a fresh SIP approximation of the WCS.
    """
    with open_level2b(cal_path, validate_on_assignment=False) as model:
        if wcs is not None:
            model.meta.wcs = wcs
        if outliers is not None:
            model.dq = with_outliers(model.dq, outliers)
        if sky is not None and sky["subtracted"]:
            bkg = model.meta.background
            done = bkg.level if (bkg.subtracted and bkg.level is not None) else 0.0
            model.data = (model.data - np.float32(sky["level"] - done)).astype(np.float32)
        record_image3_meta(model, asn_table, steps=steps, sky=sky, wcsinfo=wcsinfo)
        shape = model.data.shape
        model.meta.wcsinfo.s_region = s_region(model.meta.wcs, shape)
        set_fits_wcs(model, model.meta.wcs, shape, sip.max_pix_error, sip.degree, sip.npoints)
        save_model(model, crf_path)


def record_image3_meta(model, asn_table: str, *, steps=None, sky=None, wcsinfo=None):
    """Record in a level-2b model's metadata what stage 3 did to it before resampling, as its
    ``_crf`` file carries it (the ``_i2d`` takes its metadata from the first such model).

    ``asn_table`` names the association; ``steps`` maps ``meta.cal_step`` names to their status
    (e.g. ``{"tweakreg": "COMPLETE"}``); ``sky``: the ``meta.background`` fields (``level``
    MJy/sr, ``subtracted``, ``method``) when sky matching ran; ``wcsinfo`` further
    ``meta.wcsinfo`` fields (e.g. a moving target's ``mt_avra``, ``mt_avdec`` in deg).
    """
    model.meta.asn.table_name = asn_table
    for step, status in (steps or {}).items():
        setattr(model.meta.cal_step, step, status)
    for key, value in (wcsinfo or {}).items():
        setattr(model.meta.wcsinfo, key, value)
    bkg = model.meta.background
    if sky is not None:
        bkg.level = sky["level"]
        bkg.subtracted = sky["subtracted"]
        bkg.method = sky["method"]
        model.meta.cal_step.skymatch = "COMPLETE"
    elif bkg.subtracted is None:
        bkg.subtracted = False


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
