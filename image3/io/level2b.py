"""Reading and writing official JWST products (ASDF-in-FITS) through stdatamodels.

Every reader checks that the file is what the step needs and raises :class:`InputError` naming the
file otherwise; every writer goes through a temporary file so a failed job leaves nothing behind.
"""

import warnings

from stdatamodels.jwst import datamodels

from ..errors import InputError
from ..wcs.jwst_wcs import sip_keywords
from ._asdf import stable_extension_order
from .atomic import atomic_path

__all__ = ["open_level2b", "save_model", "set_fits_wcs"]


def open_level2b(path, *, validate_on_assignment=True) -> datamodels.ImageModel:
    """Open a level-2b calibrated image (``_cal``/``_crf``) and check it has data and a WCS.

    ``validate_on_assignment=False``: the schema is checked once, when the model is saved, instead
    of at every attribute set (for a writer that sets many keywords).
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = datamodels.open(path, validate_on_assignment=validate_on_assignment)
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except Exception as err:  # stdatamodels raises many types for a file it cannot read
        raise InputError(f"{path}: not a JWST datamodel file ({type(err).__name__}: {err})") from None
    kind = type(model).__name__
    problem = None
    if not isinstance(model, datamodels.ImageModel):
        problem = f"it is a {kind} (meta.model_type={model.meta.model_type!r})"
    elif model.data.ndim != 2 or model.data.size == 0:
        problem = f"its SCI array has shape {model.data.shape}"
    elif model.meta.wcs is None:
        problem = "it has no WCS (meta.wcs); run assign_wcs (calwebb_image2) first"
    elif (model.meta.bunit_data or "").replace(" ", "") not in ("MJy/sr", "MJy/str"):
        problem = f"its SCI unit is {model.meta.bunit_data!r}, not MJy/sr (not flux-calibrated)"
    if problem:
        model.close()
        raise InputError(f"{path}: not a level-2b calibrated image: {problem}")
    return model


def save_model(model, path):
    """Save a datamodel to ``path`` atomically (temporary name, then rename); the same model gives
    the same bytes in any process, but for the date stamps (:func:`_asdf.stable_extension_order`)."""
    with atomic_path(path) as tmp, stable_extension_order():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.save(tmp)


def set_fits_wcs(model, wcs, shape, max_pix_error=0.01, degree=None, npoints=12):
    """Write the SIP approximation of ``wcs`` into ``meta.wcsinfo`` (the SCI header's FITS WCS).

    Keys the datamodel schema does not define are left out; stale SIP terms are cleared first.
    """
    known = set(model.meta.wcsinfo._schema.get("properties", {}))
    for key in known:
        if key[:2] in ("a_", "b_") or key[:3] in ("ap_", "bp_"):
            setattr(model.meta.wcsinfo, key, None)
    for key, value in sip_keywords(wcs, shape, max_pix_error, degree, npoints).items():
        if key in known:
            setattr(model.meta.wcsinfo, key, value)
