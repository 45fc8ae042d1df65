"""Relative alignment of wide mosaics with the default settings, against the simulator's truth.

Most tiles of a mosaic do not overlap the reference exposure, so the official one-by-one alignment
to the reference's catalog leaves them unaligned ("not enough matches"); the global fit over all
overlaps must align every one to <= 1 mas.
"""

import pytest
import simdata
from test_tweakreg import _exposure_catalogs

from image3.tweakreg import alignment
from image3.tweakreg.settings import FitSettings

MOSAIC_24 = {"shape": [1024, 1024], "n_exposures": 24, "mosaic": [6, 4], "mosaic_overlap": 0.1}


def _aligned_rms(exposures, truth):
    """Relative residual (mas) of the exposures after the default alignment, and its report."""
    alignment.align_relative(exposures, FitSettings())
    rms = simdata.relative_alignment_rms([e.wcs for e in exposures], truth, exposures[0].shape)
    return rms, alignment.report(exposures)


def test_six_tile_mosaic_with_thirty_percent_overlaps_aligns_to_sub_mas():
    """2 x 3 tiles of 384^2 (rendered and detected), 30 % overlaps, 0.1-0.3 arcsec pointing errors:
    three tiles do not overlap the first one at all."""
    sim = simdata.settings(
        shape=[384, 384],
        n_exposures=6,
        mosaic=[2, 3],
        mosaic_overlap=0.3,
        pointing_shift_arcsec=[0.1, 0.3],
        star_density=3000,
    )
    scene, truth, models, _ = simdata.simulate(sim)
    exposures = _exposure_catalogs(models, sim["filter"])
    before = simdata.relative_alignment_rms([e.wcs for e in exposures], truth, models[0].data.shape)
    after, report = _aligned_rms(exposures, truth)
    assert before > 100
    assert report["aligned"].all(), report["status"]
    assert after <= 1.0, after


@pytest.fixture(scope="module")
def mosaic_24():
    """6 x 4 tiles of 1024^2 with 10 % overlaps (about 10 stars in a side's overlap strip after
    tweakreg's 1 arcsec separation cut), catalogs placed from the truth with 0.03 pixel noise."""
    sim = simdata.settings(**MOSAIC_24, pointing_shift_arcsec=[0.1, 0.3], star_density=1000)
    truth, raw = simdata.star_catalogs(sim, mag_limit=24.5, noise_pix=0.03)
    return truth, raw, tuple(sim["shape"])


def _exposures(truth, raw, shape, keep):
    return [
        alignment.ExposureCatalog(truth[k]["name"], truth[k]["name"], *raw[k][:2], raw[k][2], shape)
        for k in keep
    ]


def test_twenty_four_tile_mosaic_with_ten_percent_overlaps_aligns_to_sub_mas(mosaic_24):
    truth, raw, shape = mosaic_24
    exposures = _exposures(truth, raw, shape, range(len(truth)))
    after, report = _aligned_rms(exposures, truth)
    assert report["aligned"].all(), report["status"]
    assert after <= 1.0, after


def test_exposure_that_overlaps_nothing_keeps_its_wcs_and_is_flagged(mosaic_24):
    """Without its three neighbours (exposures 1, 6 and 7: the tiles run along x first, 6 a row),
    the first tile overlaps nothing: it keeps its WCS, the report says so, the others still align."""
    truth, raw, shape = mosaic_24
    keep = [k for k in range(len(truth)) if k not in (1, 6, 7)]
    exposures = _exposures(truth, raw, shape, keep)
    alignment.align_relative(exposures, FitSettings())
    report = alignment.report(exposures)
    assert not report["aligned"][0]
    assert "overlaps no other exposure" in report["status"][0]
    assert exposures[0].wcs is exposures[0].original_wcs
    assert report["aligned"][1:].all(), report["status"]
    rms = simdata.relative_alignment_rms([e.wcs for e in exposures[1:]], [truth[k] for k in keep[1:]], shape)
    assert rms <= 1.0, rms
