"""JWST data-quality flags: bit names as in the official products, and good-pixel masks."""

import numpy as np
from astropy.nddata import bitmask
from stdatamodels.jwst.datamodels import dqflags

from .errors import InputError

JWST_DQ = bitmask.extend_bit_flag_map("JWST_DQ", **{name: bit for name, bit in dqflags.pixel.items() if bit})


def good_pixels(dq, good_bits, key="good_bits") -> np.ndarray:
    """Boolean mask of pixels whose DQ has no bits outside ``good_bits``.

    ``good_bits`` uses the official syntax: an integer, or flag names joined by ``+`` or ``,``,
    with a leading ``~`` meaning "every flag except these" (``"~DO_NOT_USE+NON_SCIENCE"``: pixels
    flagged DO_NOT_USE or NON_SCIENCE are bad, everything else is good). None: every pixel is good.
    ``key`` names the config key in error messages.
    """
    try:
        return bitmask.bitfield_to_boolean_mask(
            dq, ignore_flags=good_bits, flag_name_map=JWST_DQ, good_mask_value=True, dtype=bool
        )
    except (ValueError, TypeError, KeyError) as err:
        raise InputError(f"{key} = {good_bits!r} is not a valid DQ flag expression: {err}") from None
