"""Good-pixel masks from the official good_bits syntax, against astropy's reading of it."""

import numpy as np
import pytest
from astropy.nddata import bitmask

from image3.errors import InputError
from image3.io.dq import DQ_FLAGS, good_pixels

JWST = bitmask.extend_bit_flag_map("JWST_DQ_TEST", **DQ_FLAGS)


@pytest.mark.parametrize(
    "good_bits",
    ["~DO_NOT_USE+NON_SCIENCE", "~DO_NOT_USE", "~0", "0", 6, "DO_NOT_USE,HOT", "4+2048", "~4,2", None],
)
def test_good_pixels_match_astropy(good_bits):
    rng = np.random.default_rng(3)
    dq = (rng.integers(0, 2, (64, 64, 32)) * (1 << np.arange(32))).sum(axis=-1)
    dq[rng.random((64, 64)) < 0.5] = 0
    dq = dq.astype(np.uint32)
    dq[:2] = [[1], [2048]]
    expected = bitmask.bitfield_to_boolean_mask(
        dq, ignore_flags=good_bits, flag_name_map=JWST, good_mask_value=True, dtype=bool
    )
    assert np.array_equal(good_pixels(dq, good_bits), expected)


def test_unknown_flag_is_named():
    with pytest.raises(InputError, match="resample.good_bits = '~DO_NOT_US'.*'DO_NOT_US'"):
        good_pixels(np.zeros(3, np.uint32), "~DO_NOT_US", "resample.good_bits")
