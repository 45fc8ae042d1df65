"""The lean level-2b readers agree with astropy.io.fits; the header scan names truncated files and
members of mixed set-ups."""

import numpy as np
import pytest
from astropy.io import fits

from image3.errors import InputError
from image3.io.dq import has_valid_pixels
from image3.io.fits_read import read_lean, scan_headers, target_type
from image3.io.members import PRIMARY_KEYS, check_setup


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


def _level2b_like(path):
    primary = fits.PrimaryHDU()
    primary.header.update(INSTRUME="NIRCAM", FILTER="F150W", PUPIL="CLEAR", TARGTYPE="FIXED")
    primary.header.update({f"PAD{k}": (k, "a second header block") for k in range(40)})
    sci = fits.ImageHDU(np.ones((30, 50), np.float32), name="SCI")
    sci.header.update(BUNIT="MJy/sr", PIXAR_A2=0.00096721)
    dq = fits.ImageHDU(np.zeros((30, 50), np.uint32), name="DQ")
    tree = b"#ASDF 1.0.0\n%YAML 1.1\n---\ndata: !core/ndarray-1.0.0\n  source: fits:SCI,1\n"
    tree += b"meta:\n  wcs: !<tag:stsci.edu:gwcs/wcs-1.4.0>\n    name: ''\n"
    payload = np.frombuffer(tree.ljust(5000, b" "), np.uint8)
    table = fits.BinTableHDU.from_columns([fits.Column("ASDF_METADATA", "5000B", array=[payload])])
    table.header["EXTNAME"] = "ASDF"
    fits.HDUList([primary, sci, dq, table]).writeto(path)
    return path


def test_header_scan_agrees_with_astropy(tmp_path):
    path = _level2b_like(tmp_path / "z_cal.fits")
    scan = scan_headers(path, ("INSTRUME", "FILTER", "PUPIL", "TARGTYPE", "MISSING"), ("PIXAR_A2", "BUNIT"))
    with fits.open(path) as hdul:
        assert scan.hdus == ["PRIMARY", *(h.name for h in hdul[1:])]
    assert scan.primary == {
        "INSTRUME": "NIRCAM",
        "FILTER": "F150W",
        "PUPIL": "CLEAR",
        "TARGTYPE": "FIXED",
        "MISSING": None,
    }
    assert scan.sci == {"PIXAR_A2": 0.00096721, "BUNIT": "MJy/sr"} and scan.sci_ndim == 2
    assert scan.shapes["SCI"] == scan.shapes["DQ"] == (30, 50)
    assert scan.asdf_sources == {"SCI"} and scan.asdf_wcs


def test_long_strings_are_read_whole_as_astropy_reads_them(tmp_path):
    """A string longer than one card goes on in CONTINUE cards (each piece but the last ending with
    &): a wanted one is read whole; an unwanted one before it, a card between them and a wanted
    short string after it are not mixed in."""
    sci = fits.ImageHDU(np.zeros((2, 2), np.float32), name="SCI")
    polygon = "POLYGON ICRS  " + " ".join(f"{53.1 + k / 1e4:.9f} {-27.8 - k / 1e4:.9f}" for k in range(4))
    sci.header["HISTLONG"] = "an unwanted long string " * 6
    sci.header["S_REGION"] = (polygon, "Spatial footprint of the observation")
    sci.header["BUNIT"] = "MJy/sr"
    path = tmp_path / "long_cal.fits"
    fits.HDUList([fits.PrimaryHDU(), sci]).writeto(path)
    scan = scan_headers(path, (), ("S_REGION", "BUNIT"))
    assert scan.sci == {"S_REGION": fits.getheader(path, "SCI")["S_REGION"], "BUNIT": "MJy/sr"}
    assert scan.sci["S_REGION"] == polygon and len(polygon) > 100


@pytest.mark.parametrize(
    "where, message",
    [
        (lambda hdul: 100, "ends inside the header of HDU 0"),
        (lambda hdul: hdul["SCI"].fileinfo()["datLoc"] + 1000, r"inside HDU 1 \(SCI\)"),
        (lambda hdul: hdul["DQ"].fileinfo()["hdrLoc"] + 50, "ends inside the header of HDU 2"),
        (lambda hdul: hdul["ASDF"].fileinfo()["datLoc"] + 4000, r"inside HDU 3 \(ASDF\)"),
    ],
)
def test_truncated_file_is_named(tmp_path, where, message):
    path = _level2b_like(tmp_path / "cut_cal.fits")
    with fits.open(path) as hdul:
        at = where(hdul)
    with open(path, "r+b") as f:
        f.truncate(at)
    with pytest.raises(InputError, match=f"cut_cal.fits: truncated or corrupt FITS file: it .*{message}"):
        scan_headers(path)


def test_members_must_share_the_set_up(tmp_path):
    paths = [_level2b_like(tmp_path / f"m{k}_cal.fits") for k in range(3)]
    check_setup("p", {str(p): scan_headers(p, PRIMARY_KEYS, ("PIXAR_A2",)) for p in paths})
    fits.setval(paths[1], "PUPIL", value="F162M")
    scans = {str(p): scan_headers(p, PRIMARY_KEYS, ("PIXAR_A2",)) for p in paths}
    with pytest.raises(
        InputError, match=r"product p: its members disagree on PUPIL(.|\n)*m1_cal.fits: PUPIL = F162M"
    ):
        check_setup("p", scans)
    fits.setval(paths[1], "PUPIL", value="CLEAR")
    fits.setval(paths[2], "PIXAR_A2", value=4 * 0.00096721, ext=1)
    scans = {str(p): scan_headers(p, PRIMARY_KEYS, ("PIXAR_A2",)) for p in paths}
    with pytest.raises(InputError, match=r"pixel scales differ(.|\n)*m2_cal.fits: 0.0622"):
        check_setup("p", scans)


def test_valid_pixels():
    sci, dq = np.full((4, 4), np.nan), np.zeros((4, 4), np.uint32)
    assert not has_valid_pixels(sci, dq)
    sci[2, 3] = 1.0
    assert has_valid_pixels(sci, dq)
    dq[2, 3] = 1 | 4  # DO_NOT_USE
    assert not has_valid_pixels(sci, dq)


def test_gwcs_and_reference_angles_equal_the_datamodel(tmp_path):
    from stdatamodels.jwst import datamodels

    from image3.io.fits_read import read_gwcs
    from image3.wcs.jwst_wcs import Pointing, imaging_wcs

    model = datamodels.ImageModel(np.ones((40, 50), np.float32))
    model.meta.wcs = imaging_wcs((40, 50), Pointing(ra_ref=53.16, dec_ref=-27.8, roll_ref=30.0))
    model.meta.bunit_data = "MJy/sr"
    model.meta.wcsinfo.v2_ref, model.meta.wcsinfo.v3_ref, model.meta.wcsinfo.roll_ref = 120.6, -527.4, 30.0
    model.meta.exposure.mid_time = 61368.25
    path = tmp_path / "z_cal.fits"
    model.save(path)
    lean = read_lean(path, ())
    assert lean.reference_angles == {"v2_ref": 120.6, "v3_ref": -527.4, "roll_ref": 30.0}
    assert lean.mid_time == 61368.25
    x, y = np.meshgrid(np.arange(0.0, 50.0, 7.0), np.arange(0.0, 40.0, 7.0))
    with datamodels.open(path) as again:
        np.testing.assert_array_equal(read_gwcs(path)(x, y), again.meta.wcs(x, y))
    plain = tmp_path / "nowcs_cal.fits"
    with fits.open(path) as hdul:
        fits.HDUList([h for h in hdul if h.name != "ASDF"]).writeto(plain)
    with pytest.raises(InputError, match="nowcs_cal.fits: .* no WCS"):
        read_gwcs(plain)
