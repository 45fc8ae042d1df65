"""The lean level-2b readers agree with astropy.io.fits."""

import numpy as np
import pytest
from astropy.io import fits

from image3.errors import InputError
from image3.fits_read import read_lean, target_type


@pytest.mark.parametrize("value", ["MOVING", "FIXED", "generic", None])
def test_target_type_equals_the_astropy_header(tmp_path, value):
    header = fits.Header([(f"KEY{k}", k, "padding cards") for k in range(60)])  # TARGTYPE past 1 block
    if value is not None:
        header["TARGTYPE"] = (value, "fixed or moving")
    path = tmp_path / "x_cal.fits"
    fits.HDUList([fits.PrimaryHDU(header=header), fits.ImageHDU(np.zeros((2, 2)), name="SCI")]).writeto(path)
    expected = (fits.getheader(path, 0).get("TARGTYPE") or "").strip().upper()
    assert target_type(path) == expected


def test_not_fits_is_named(tmp_path):
    path = tmp_path / "notes_cal.fits"
    path.write_text("not a FITS file at all" * 200)
    with pytest.raises(InputError, match="notes_cal.fits: not a FITS file"):
        target_type(path)


def test_header_only_read_has_shape_and_keywords(tmp_path):
    primary = fits.PrimaryHDU()
    primary.header.update(BKGLEVEL=0.25, BKGSUB=True, FILTER="F200W", EFFEXPTM=107.4, PROGRAM="01234")
    sci = fits.ImageHDU(np.ones((3, 5), np.float32), name="SCI")
    sci.header["BUNIT"] = "MJy/sr"
    path = tmp_path / "y_cal.fits"
    fits.HDUList([primary, sci]).writeto(path)
    lean = read_lean(path, ())
    assert lean.arrays == {} and lean.shape == (3, 5) and lean.filter == "F200W"
    assert lean.subtracted_sky == 0.25 and lean.unsubtracted_sky == 0.0 and lean.exptime == 107.4
    assert lean.observation["program_number"] == "01234" and lean.observation["visit_number"] is None
    assert read_lean(path).arrays["dq"].shape == (3, 5)
