"""Member header scans kept between workflow loads: reused only while the file is unchanged."""

import os

import numpy as np
from astropy.io import fits

from image3.io.fits_read import scan_headers
from image3.io.scan_cache import ScanCache

KEYS = (("FILTER",), ("PIXAR_A2",))


def write(path, filter_name):
    primary = fits.PrimaryHDU()
    primary.header["FILTER"] = filter_name
    sci = fits.ImageHDU(np.zeros((4, 4), np.float32), name="SCI")
    sci.header["PIXAR_A2"] = 0.0009
    fits.HDUList([primary, sci]).writeto(path, overwrite=True)


def test_a_scan_is_reused_while_its_file_is_unchanged(tmp_path, monkeypatch):
    """A second load reads the stored scans (no file is walked again) and they equal fresh ones; a
    rewritten file, or other keywords asked for, are scanned again."""
    files = [tmp_path / f"{name}.fits" for name in "ab"]
    for path in files:
        write(path, "F150W")
    store = tmp_path / "state" / "scans.pickle"
    first = ScanCache(store, KEYS)
    scans = [first.scan(path) for path in files]
    first.save()
    assert scans == [scan_headers(path, *KEYS) for path in files]

    walked = []
    monkeypatch.setattr("image3.io.scan_cache.scan_headers", lambda path, *keys: walked.append(path))
    second = ScanCache(store, KEYS)
    assert [second.scan(path) for path in files] == scans and walked == []

    write(files[0], "F200W")
    os.utime(files[0], ns=(1, 1))  # a new modification time, whatever the clock's resolution
    monkeypatch.undo()
    third = ScanCache(store, KEYS)
    assert third.scan(files[0]).primary["FILTER"] == "F200W"
    assert third.scan(files[1]) == scans[1]
    other_keys = ScanCache(store, (("FILTER", "PUPIL"), ("PIXAR_A2",)))
    assert other_keys._scans == {}


def test_an_unreadable_cache_is_ignored_and_rewritten(tmp_path):
    path = tmp_path / "a.fits"
    write(path, "F150W")
    store = tmp_path / "scans.pickle"
    store.write_bytes(b"not a pickle")
    cache = ScanCache(store, KEYS)
    assert cache.scan(path) == scan_headers(path, *KEYS)
    cache.save()
    assert ScanCache(store, KEYS).scan(path) == scan_headers(path, *KEYS)
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
