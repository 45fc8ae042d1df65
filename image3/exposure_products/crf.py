"""The per-exposure ``_crf`` product: the level-2b file with the final WCS, sky and DQ."""

import numpy as np

from ..io.dq import with_outliers
from ..io.level2b import open_level2b, save_model, set_fits_wcs
from ..io.product_meta import SipSettings, record_image3_meta
from ..wcs.jwst_wcs import s_region

__all__ = ["write_crf"]

# The arrays the official outlier step sets to NaN on the pixels it flags.
BLANKED_ARRAYS = ("data", "err", "var_poisson", "var_rnoise", "var_flat")


def _blank_outliers(model, outliers):
    """NaN in SCI, ERR and the variances on the ``outliers`` pixels, as the official step leaves
    them; arrays the file lacks, or of another shape than SCI, are left as they are."""
    for name in BLANKED_ARRAYS:
        if model.hasattr(name) and getattr(model, name).shape == outliers.shape:
            getattr(model, name)[outliers] = np.nan


def write_crf(
    cal_path,
    crf_path,
    asn_table: str,
    sip: SipSettings,
    asn_pool=None,
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
    subtracted). ``outliers`` is a boolean mask whose pixels get DQ OUTLIER and DO_NOT_USE and NaN
    in SCI, ERR and the variances (as the official step); ``asn_table``, ``asn_pool``, ``steps``
    and ``wcsinfo``: see :func:`record_image3_meta`. The SCI header carries a fresh SIP
    approximation of the WCS.
    """
    with open_level2b(cal_path, validate_on_assignment=False) as model:
        if wcs is not None:
            model.meta.wcs = wcs
        if outliers is not None:
            model.dq = with_outliers(model.dq, outliers)
            _blank_outliers(model, outliers)
        if sky is not None and sky["subtracted"]:
            bkg = model.meta.background
            done = bkg.level if (bkg.subtracted and bkg.level is not None) else 0.0
            model.data = (model.data - np.float32(sky["level"] - done)).astype(np.float32)
        record_image3_meta(model, asn_table, asn_pool=asn_pool, steps=steps, sky=sky, wcsinfo=wcsinfo)
        shape = model.data.shape
        model.meta.wcsinfo.s_region = s_region(model.meta.wcs, shape)
        set_fits_wcs(model, model.meta.wcs, shape, sip.max_pix_error, sip.degree, sip.npoints)
        save_model(model, crf_path)
