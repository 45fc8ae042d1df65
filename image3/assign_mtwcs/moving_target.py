"""Moving-target WCS (the official ``assign_mtwcs``): exposures combined in the target's frame.

Every exposure's gwcs gets one more frame, ``moving_target``, after ``world``: a shift in sky
coordinates by (mean target position - this exposure's target position), so the target lands at
its mean position (``mt_avra``, ``mt_avdec``) in every exposure and later steps (grid, sky, outlier
detection, resample) work in its frame. Positions in degrees; the target position of an exposure
is ``meta.wcsinfo.mt_ra``/``mt_dec``, at mid-exposure.

Unlike the official pipeline, which skips tweakreg for moving targets, the workflow applies this to
the WCS aligned on the fixed sky, so each exposure's pointing error does not move the target.
"""

import logging

import numpy as np
from astropy.modeling.models import Shift
from gwcs import WCS

from ..errors import InputError
from ..wcs.tangent_plane import mean_position

__all__ = ["MOVING_FRAME", "assign_moving_target", "mean_target_position", "moving_target_wcs_set"]

MOVING_FRAME = "moving_target"
log = logging.getLogger("image3")


def mean_target_position(positions) -> tuple:
    """(mt_avra, mt_avdec) in deg of (ra, dec) pairs: their mean direction (right across RA 0/360)."""
    return mean_position(np.asarray(positions, dtype=float).reshape(-1, 2))


def _ra_difference(ra_to, ra_from):
    """``ra_to - ra_from`` in deg, wrapped to [-180, 180)."""
    return (ra_to - ra_from + 180.0) % 360.0 - 180.0


def _add_moving_frame(wcs: WCS, mean, position) -> WCS:
    """A copy of ``wcs`` with the frame ``moving_target`` appended after its output (sky) frame.

    ``mean`` and ``position`` are (ra, dec) in deg: the mean target position and this exposure's;
    the new last step shifts RA by ``mean_ra - ra`` (wrapped to +-180) and Dec by ``mean_dec - dec``.
    """
    if wcs.output_frame.name == MOVING_FRAME:
        raise InputError("the WCS already has a moving_target frame")
    shift = Shift(_ra_difference(mean[0], position[0])) & Shift(mean[1] - position[1])
    shift.name = "to_moving_target"
    moving = wcs.output_frame.__class__(
        reference_frame=wcs.output_frame.reference_frame,
        axes_order=wcs.output_frame.axes_order,
        unit=wcs.output_frame.unit,
        axes_names=wcs.output_frame.axes_names,
        name=MOVING_FRAME,
    )
    steps = [(step.frame, step.transform) for step in wcs.pipeline[:-1]]
    new = WCS([*steps, (wcs.output_frame, shift), (moving, None)])
    new.bounding_box = wcs.bounding_box
    new.array_shape = wcs.array_shape
    return new


def moving_target_wcs_set(wcs_set: dict, positions: dict):
    """Every exposure's WCS with the moving frame, and the mean target position (mt_avra, mt_avdec).

    ``wcs_set`` maps exposure name -> gwcs (aligned on the fixed sky); ``positions`` maps exposure
    name -> (mt_ra, mt_dec) in deg.
    """
    missing = sorted(set(wcs_set) - set(positions))
    if missing:
        raise InputError(f"no moving-target position (mt_ra, mt_dec) for exposure(s) {missing}")
    mean = mean_target_position([positions[name] for name in wcs_set])
    return {name: _add_moving_frame(wcs, mean, positions[name]) for name, wcs in wcs_set.items()}, mean


def assign_moving_target(wcs_set: dict, positions: dict, files: dict):
    """The official step's choice: :func:`moving_target_wcs_set` when every exposure has its target
    position, else (as the official step) nothing for the whole product, with a warning naming the
    files without one.

    ``positions`` maps exposure name -> (mt_ra, mt_dec) in deg, or None where the file ``files[name]``
    has none. Returns the WCS set to save and its extras: ``mt_avra``, ``mt_avdec`` (deg), or the
    ``cal_step`` the products then record (assign_mtwcs SKIPPED).
    """
    missing = [str(files[name]) for name, position in positions.items() if position is None]
    if missing:
        log.warning(
            "assign_mtwcs skipped: no MT_RA/MT_DEC (meta.wcsinfo.mt_ra/mt_dec) in %s; the exposures are "
            "combined in the sky's frame, so the moving target is not aligned (S_MTWCS SKIPPED)",
            ", ".join(missing),
        )
        return wcs_set, {"cal_step": {"assign_mtwcs": "SKIPPED"}}
    moved, (avra, avdec) = moving_target_wcs_set(wcs_set, positions)
    return moved, {"mt_avra": avra, "mt_avdec": avdec}
