"""skymatch parameters that behave as the official step's (#34): a group's level is the lowest of
its files' levels (local, global, global+match), and the sky list's names lose only known
pipeline suffixes."""

import logging

import numpy as np
import pytest

from image3.errors import InputError
from image3.io.association import exposure_name
from image3.skymatch.cells import ExposureCells
from image3.skymatch.levels import compute_sky
from image3.skymatch.settings import SkySettings
from image3.skymatch.sky import user_sky

CELLS = 400  # sky cells per file


def flat_cells(name, group, first, level, rng, cell_size=8):
    """A file covering cells ``first`` .. ``first + CELLS - 1`` of flat sky at ``level`` MJy/sr
    (cell means scattered by 0.01 MJy/sr), no sources."""
    n = cell_size**2
    cells = np.arange(first, first + CELLS)
    means = level + rng.normal(0.0, 0.01, CELLS)
    full = np.full(CELLS, n)
    return ExposureCells(name, group, cells, full, full, means * n, np.zeros(CELLS, int))


@pytest.fixture
def grouped():
    """Exposure g1 read by two detectors (A, 14 MJy/sr; B, 2.56 MJy/sr, on cells of their own)
    and exposure g2 (one detector C at 16.44, on A's cells): the official levels are g1 2.56 (its
    lowest detector) for local, global and global+match; g2 16.44 (local) or 5.0 (global+match:
    matched to A, 2.44 above g1)."""
    rng = np.random.default_rng(3)
    return [
        flat_cells("a", "g1", 0, 14.0, rng),
        flat_cells("b", "g1", CELLS, 2.56, rng),
        flat_cells("c", "g2", 0, 16.44, rng),
    ]


@pytest.mark.parametrize(
    ("method", "expected"),
    [("local", (2.56, 16.44)), ("global", (2.56, 2.56)), ("global+match", (2.56, 5.0))],
)
@pytest.mark.parametrize("skystat", ["mode", "mean"])
def test_group_level_is_its_lowest_file_level(grouped, method, expected, skystat):
    """group_exposures true (the official grouping): g1's level is its lowest detector's, within
    0.01 MJy/sr. One statistic of both detectors' cells pooled (before #34) gave g1 8.28 in every
    method and statistic (and g2 10.72 in global+match)."""
    s = SkySettings(skymethod=method, skystat=skystat, group_exposures=True)
    result = compute_sky(grouped, s)
    assert result.levels["a"] == result.levels["b"]
    assert [result.levels["a"], result.levels["c"]] == pytest.approx(expected, abs=0.01)


def test_auto_keeps_the_lowest_level_where_it_cannot_test(grouped):
    """group_exposures auto (the default) tests a group's detectors through the overlaps: B
    overlaps nothing, so g1 keeps one level, the lowest of its detectors' (8.28 before #34)."""
    result = compute_sky(grouped, SkySettings(skymethod="local"))
    assert result.levels["a"] == pytest.approx(2.56, abs=0.01)


def test_sky_list_names_lose_only_known_suffixes(tmp_path, caplog):
    """Files one_cal.fits, two_unknown.fits (exposure 'two': our exposure names drop the last
    _suffix) and three_unknown_cal.fits. A list naming two_unknown_cal.fits means the file
    two_unknown.fits (both 'two_unknown' without a known suffix), as in the official step; before
    #34 it became 'two_unknown' by dropping any last suffix and exposure 'two' was reported
    missing. A line naming no exposure is ignored with a warning."""
    files = [f"/data/{f}" for f in ("one_cal.fits", "two_unknown.fits", "three_unknown_cal.fits")]
    names = [exposure_name(f) for f in files]
    assert names == ["one", "two", "three_unknown"]
    listing = tmp_path / "sky.txt"
    lines = ["one_crf.fits 1.0", "other/two_unknown_cal.fits 2.0", "three_unknown 3.0", "four_cal.fits 4"]
    listing.write_text("\n".join(lines) + "\n")
    with caplog.at_level(logging.WARNING, logger="image3"):
        result = user_sky(str(listing), names, files=files)
    assert [result.levels[n] for n in names] == [1.0, 2.0, 3.0]
    assert "four_cal.fits is no exposure" in caplog.text
    listing.write_text("one_crf.fits 1.0\ntwo_unknown_cal.fits 2.0\nthree_unknown_cal.fits 3.0\n")
    assert user_sky(str(listing), names, files=files).levels["two"] == 2.0
    listing.write_text("one_crf.fits 1.0\ntwo_other.fits 2.0\nthree_unknown_cal.fits 3.0\n")
    with pytest.raises(InputError, match="no level for exposure.*two"):
        user_sky(str(listing), names, files=files)  # an unknown suffix is part of the name
