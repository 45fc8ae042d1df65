"""JWST data-quality flags: bit names as in the official products, and good-pixel masks.

numpy alone (per-exposure jobs import this; astropy.nddata and stdatamodels take about a second).
"""

import logging

import numpy as np

from ..errors import InputError

__all__ = [
    "DQ_FLAGS",
    "excluded_exposure",
    "good_pixels",
    "has_valid_pixels",
    "with_outliers",
]

# The official pixel DQ bits (JWST technical report JWST-STScI-004978; stdatamodels' dqflags.pixel).
DQ_FLAGS = {
    "DO_NOT_USE": 1 << 0,
    "SATURATED": 1 << 1,
    "JUMP_DET": 1 << 2,
    "DROPOUT": 1 << 3,
    "OUTLIER": 1 << 4,
    "PERSISTENCE": 1 << 5,
    "AD_FLOOR": 1 << 6,
    "CHARGELOSS": 1 << 7,
    "RESERVED": 1 << 8,
    "NON_SCIENCE": 1 << 9,
    "DEAD": 1 << 10,
    "HOT": 1 << 11,
    "WARM": 1 << 12,
    "LOW_QE": 1 << 13,
    "RC": 1 << 14,
    "TELEGRAPH": 1 << 15,
    "NONLINEAR": 1 << 16,
    "BAD_REF_PIXEL": 1 << 17,
    "NO_FLAT_FIELD": 1 << 18,
    "NO_GAIN_VALUE": 1 << 19,
    "NO_LIN_CORR": 1 << 20,
    "NO_SAT_CHECK": 1 << 21,
    "UNRELIABLE_BIAS": 1 << 22,
    "UNRELIABLE_DARK": 1 << 23,
    "UNRELIABLE_SLOPE": 1 << 24,
    "UNRELIABLE_FLAT": 1 << 25,
    "OPEN": 1 << 26,
    "ADJ_OPEN": 1 << 27,
    "FLUX_ESTIMATED": 1 << 28,
    "MSA_FAILED_OPEN": 1 << 29,
    "OTHER_BAD_PIXEL": 1 << 30,
    "REFERENCE_PIXEL": 1 << 31,
}
_ALL_BITS = (1 << 32) - 1
log = logging.getLogger("image3")


def _good_bits_mask(good_bits, key="good_bits") -> int | None:
    """The DQ bits that still leave a pixel good, as an integer (None: every pixel is good).

    ``good_bits`` uses the official syntax: an integer, or flag names (or integers that are
    powers of 2) joined by ``+`` or ``,``, with a leading ``~`` meaning "every flag except these"
    (``"~DO_NOT_USE+NON_SCIENCE"``: pixels flagged DO_NOT_USE or NON_SCIENCE are bad, everything
    else is good). ``key`` names the config key in error messages.
    """
    if good_bits is None:
        return None
    if isinstance(good_bits, (int, np.integer)) and not isinstance(good_bits, bool):
        return int(good_bits) & _ALL_BITS
    text = str(good_bits).strip()
    if text.upper() in ("", "NONE", "INDEF"):
        return None
    flip = text.startswith("~")
    words = [w.strip() for w in text.lstrip("~").replace(",", "+").split("+")]
    if flip and len(words) == 1 and words[0].lstrip("-").isdigit():
        return ~int(words[0]) & _ALL_BITS  # "~0": no flag is good
    bits = 0
    for word in words:
        if word.upper() in DQ_FLAGS:
            bits |= DQ_FLAGS[word.upper()]
        elif word.isdigit() and (len(words) == 1 or _is_power_of_two(int(word))):
            bits |= int(word)
        else:
            raise InputError(
                f"{key} = {good_bits!r} is not a valid DQ flag expression: {word!r} is neither a JWST "
                f"DQ flag name ({', '.join(DQ_FLAGS)}) nor a power of 2"
            )
    return (~bits if flip else bits) & _ALL_BITS


def _is_power_of_two(n: int) -> bool:
    return n > 0 and n & (n - 1) == 0


def good_pixels(dq, good_bits, key="good_bits") -> np.ndarray:
    """Boolean mask of pixels whose DQ has no bits outside ``good_bits`` (see :func:`_good_bits_mask`)."""
    mask = _good_bits_mask(good_bits, key)
    if mask is None:
        return np.ones(np.shape(dq), bool)
    return (np.asarray(dq).astype(np.uint32) & np.uint32(~mask & _ALL_BITS)) == 0


def has_valid_pixels(sci, dq) -> bool:
    """Whether an exposure has a pixel any step can use: a finite SCI value not flagged DO_NOT_USE.

    An exposure without one (a failed calibration: SCI all NaN, or every pixel DO_NOT_USE) is left
    out of its product: no sources, no sky level, an empty single image, not drizzled; its _crf is
    still written. So the DAG does not depend on the data.
    """
    sci, dq = np.asarray(sci), np.asarray(dq)
    return bool(np.any(np.isfinite(sci) & ((dq.astype(np.uint32) & np.uint32(DQ_FLAGS["DO_NOT_USE"])) == 0)))


def excluded_exposure(sci, dq, name) -> bool:
    """True (with a warning naming ``name``, the exposure or its file) when the exposure has no valid
    pixel (see :func:`has_valid_pixels`) and is left out of its product."""
    if has_valid_pixels(sci, dq):
        return False
    log.warning("%s: no valid pixel (SCI all NaN or every pixel DO_NOT_USE): left out of the product", name)
    return True


def with_outliers(dq, outliers):
    """``dq`` (uint32) with the pixels of the boolean mask ``outliers`` flagged OUTLIER and
    DO_NOT_USE, as the outlier detection step writes them into the ``_crf`` files."""
    flag = np.uint32(DQ_FLAGS["OUTLIER"] | DQ_FLAGS["DO_NOT_USE"])
    return dq.astype(np.uint32) | np.where(outliers, flag, np.uint32(0))
