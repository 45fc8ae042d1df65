"""Pipeline file-name suffixes, for matching the names in a ``skymethod: user`` sky list to the
product's files the way the official step does: only a known pipeline suffix (``_cal``, ``_crf``,
``_skymatch``, ...) is taken off a name, so ``two_unknown.fits`` stays ``two_unknown``.

Known suffixes: the JWST file types and the aliases of the detector1, image2 and image3 steps and
pipelines (the suffixes their saved outputs get), with ``_`` or ``-`` before them.
"""

import re
from pathlib import Path

__all__ = ["KNOWN_SUFFIXES", "name_root"]

PRODUCT_SUFFIXES = (
    "uncal ramp rate rateints cal calints crf crfints i2d s2d s3d x1d x1dints c1d cat segm bsub "
    "bsubints mbsub blot median snr whtlt phot dark psfalign psfstack psfsub ami ami-oi aminorm "
    "aminorm-oi wfscmb"
)
STEP_SUFFIXES = (
    "group_scale dq_init emicorr saturation ipc superbias refpix reset rscd firstframe lastframe "
    "linearity dark_current persistence charge_migration jump clean_flicker_noise picture_frame "
    "ramp_fit gain_scale assign_wcs msa_flagging background bkg_subtract imprint flat_field photom "
    "resample tweakreg skymatch outlier_detection source_catalog assign_mtwcs "
    "calwebb_detector1 calwebb_image2 calwebb_image3 detector1pipeline image2pipeline "
    "image3pipeline tweakregstep skymatchstep outlierdetectionstep resamplestep sourcecatalogstep "
    "assignmtwcsstep"
)
KNOWN_SUFFIXES = tuple(sorted(set((PRODUCT_SUFFIXES + " " + STEP_SUFFIXES).split())))
_PATTERN = re.compile(r"^(?P<root>.+?)(?:[_-](?:" + "|".join(map(re.escape, KNOWN_SUFFIXES)) + r"))?$")


def name_root(name) -> str:
    """A file name (any folder, ``.fits`` or not) less its extension and one known pipeline suffix:
    ``d/jw01_nrca1_cal.fits`` -> ``jw01_nrca1``, ``two_unknown.fits`` -> ``two_unknown``."""
    stem = Path(str(name)).name.removesuffix(".fits")
    return _PATTERN.match(stem).group("root") if stem else stem
