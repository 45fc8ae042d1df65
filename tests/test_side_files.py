"""Per-exposure jobs read only their own entries of the product's side files (the WCS set, the
geometry file, the median's window), so their cost does not grow with the number of exposures."""

import zipfile

import numpy as np
import pytest
from astropy.io import fits

from image3.errors import InputError
from image3.outlier_detection import files as outlier_files
from image3.wcs import geometry
from image3.wcs import store as wcs_store
from image3.wcs.jwst_wcs import Pointing, imaging_wcs

N = 24


@pytest.fixture(scope="module")
def wcs_set():
    return {
        f"e{k:02d}": imaging_wcs((64, 64), Pointing(ra_ref=53.16 + 1e-3 * k, dec_ref=-27.8, roll_ref=30.0))
        for k in range(N)
    }


def test_wcs_entry_reads_its_own_member_only(wcs_set, tmp_path, monkeypatch):
    path = tmp_path / "p_wcs.zip"
    wcs_store.save_wcs_set(path, wcs_set, mt_avra=53.2, mt_avdec=-27.7)
    read = []
    original = zipfile.ZipFile.read
    monkeypatch.setattr(
        zipfile.ZipFile, "read", lambda self, name, *a: read.append(name) or original(self, name, *a)
    )
    wcs = wcs_store.load_wcs_entry(path, "e07")
    assert read == ["e07.asdf"]
    np.testing.assert_allclose(wcs(10.0, 20.0), wcs_set["e07"](10.0, 20.0), rtol=0, atol=1e-12)
    assert wcs_store.load_wcs_extras(path) == {"mt_avra": 53.2, "mt_avdec": -27.7}
    assert list(wcs_store.load_wcs_set(path)) == list(wcs_set)  # the order written
    with pytest.raises(InputError, match="no WCS for exposure e99"):
        wcs_store.load_wcs_entry(path, "e99")


def test_wcs_set_members_are_valid_asdf(wcs_set, tmp_path):
    """Written without asdf's write-time validation, each member still validates when asdf opens
    it with validation on; asdf's validation is back in place afterwards."""
    import io

    import asdf
    from asdf import schema

    validate = schema.validate
    path = tmp_path / "p_wcs.zip"
    wcs_store.save_wcs_set(path, dict(list(wcs_set.items())[:3]), mt_avra=53.2)
    assert schema.validate is validate
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            with asdf.open(io.BytesIO(archive.read(name))) as af:
                af.validate()
                assert name == "extras.asdf" or af["wcs"].output_frame.name == "world"


def test_geometry_entry_reads_its_own_arrays_only(tmp_path, monkeypatch):
    entries = {
        f"e{k:02d}": geometry.Geometry(
            shape=(64, 64),
            xs=np.arange(3.0),
            ys=np.arange(3.0),
            ra=np.full((3, 3), 53.0 + k),
            dec=np.zeros((3, 3)),
            footprint=np.zeros((4, 2)),
            pixel_scale=0.031,
            rotation=0.0,
        )
        for k in range(N)
    }
    path = tmp_path / "p_geometry.npz"
    geometry.write_geometries(path, entries)
    read = []
    original = np.lib.npyio.NpzFile.__getitem__
    monkeypatch.setattr(
        np.lib.npyio.NpzFile, "__getitem__", lambda self, key: read.append(key) or original(self, key)
    )
    assert geometry.read_geometry(path, "e05").ra[0, 0] == 58.0
    assert {key.split(":")[0] for key in read} == {"e05"}


def test_median_written_in_sections_is_a_valid_fits_file_of_the_whole(tmp_path):
    """Row sections written as they come (in any sizes) give the file the whole arrays give: a FITS
    file astropy verifies, of the same size, with the same MEDIAN (NaN kept) and COUNT."""
    rng = np.random.default_rng(1)
    median = rng.normal(size=(211, 97)).astype(np.float32)
    median[5:9, 10:20] = np.nan
    count = rng.integers(0, 7, median.shape).astype(np.uint8)
    outlier_files.write_median(tmp_path / "whole.fits", median, count)
    cuts = [0, 1, 60, 61, 200, 211]
    sections = [(a, median[a:b], count[a:b]) for a, b in zip(cuts[:-1], cuts[1:], strict=True)]
    outlier_files.write_median_sections(tmp_path / "sections.fits", median.shape, sections)
    reference = fits.HDUList(
        [fits.PrimaryHDU(), fits.ImageHDU(median, name="MEDIAN"), fits.ImageHDU(count, name="COUNT")]
    )
    reference.writeto(tmp_path / "astropy.fits")
    assert (tmp_path / "sections.fits").stat().st_size == (tmp_path / "astropy.fits").stat().st_size
    with fits.open(tmp_path / "sections.fits") as hdul:
        hdul.verify("exception")
        np.testing.assert_array_equal(hdul["MEDIAN"].data, median)
        np.testing.assert_array_equal(hdul["COUNT"].data, count)
        assert hdul["COUNT"].data.dtype == np.uint8


def test_median_window_is_the_median_there(tmp_path):
    """An outlier_flag job reads its window through astropy's `section` (those rows, not the grid)."""
    median = np.arange(200 * 300, dtype=np.float32).reshape(200, 300)
    count = np.ones(median.shape, np.uint8)
    path = tmp_path / "median.fits"
    outlier_files.write_median(path, median, count)
    window = (slice(50, 80), slice(100, 160))
    part, part_count = outlier_files.read_median(path, window)
    np.testing.assert_array_equal(part, median[window])
    np.testing.assert_array_equal(part_count, count[window])
