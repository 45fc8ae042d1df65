"""What every stage-3 product records: the SIP approximation of its WCS in the SCI header, and
what stage 3 did (association, steps, sky) and which software did it in its metadata. Imports
nothing heavy: the rules read :class:`SipSettings`'s fields when the workflow loads."""

from dataclasses import dataclass

from .provenance import record_provenance

__all__ = ["SipSettings", "record_image3_meta"]


@dataclass(frozen=True)
class SipSettings:
    """SIP approximation written into SCI headers (``sip_max_pix_error`` in pixels)."""

    max_pix_error: float = 0.01
    degree: int | None = None
    npoints: int = 12


def record_image3_meta(model, asn_table: str, *, asn_pool=None, steps=None, sky=None, wcsinfo=None):
    """Record in a level-2b model's metadata what stage 3 did to it before resampling, as its
    ``_crf`` file carries it (the ``_i2d`` takes its metadata from the first such model), and the
    software that did it (:func:`~image3.io.provenance.record_provenance`).

    ``asn_table`` names the association and ``asn_pool`` its pool (None or "": none); ``steps``
    maps ``meta.cal_step`` names to their status
    (e.g. ``{"tweakreg": "COMPLETE"}``); ``sky``: the ``meta.background`` fields (``level``
    MJy/sr, ``subtracted``, ``method``) when sky matching ran; ``wcsinfo`` further
    ``meta.wcsinfo`` fields (e.g. a moving target's ``mt_avra``, ``mt_avdec`` in deg).
    """
    model.meta.asn.table_name = asn_table
    record_provenance(model, asn_pool)
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
