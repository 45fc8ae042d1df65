"""Exposure groups: the files one exposure reads out (one per detector) share a group id.

The id is the official one (``jw{program}{observation}{visit}_{visit_group}{sequence}{activity}_{exposure}``,
as the JWST pipeline's associations and ``ModelLibrary`` derive it from ``meta.observation``), so
NIRCam's eight short-wave detectors of one exposure form one group. tweakreg moves a group
rigidly and skymatch gives it one level unless told to treat every file on its own.
"""

from collections.abc import Mapping

from .fits_read import OBSERVATION_KEYWORDS

__all__ = ["GROUP_KEYS", "exposure_group", "group_id"]

GROUP_KEYS = tuple(OBSERVATION_KEYWORDS)


def group_id(observation: Mapping, name: str, *, group_exposures: bool = True) -> str:
    """The exposure group from the ``meta.observation`` fields of ``GROUP_KEYS`` (a mapping, e.g.
    :attr:`~image3.io.fits_read.LeanExposure.observation`); ``name`` (the file's own) when ``group_exposures``
    is False or the metadata is incomplete, so such a file is a group of its own."""
    values = [observation.get(k) for k in GROUP_KEYS]
    if not group_exposures or any(v is None for v in values):
        return name
    program, obs, visit, visit_group, sequence, activity, number = values
    return f"jw{program}{obs}{visit}_{visit_group}{sequence}{activity}_{number}"


def exposure_group(meta, name: str, *, group_exposures: bool = True) -> str:
    """The exposure group of a datamodel from its ``meta`` (see :func:`group_id`)."""
    return group_id(
        {k: getattr(meta.observation, k, None) for k in GROUP_KEYS}, name, group_exposures=group_exposures
    )
