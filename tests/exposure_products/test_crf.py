"""The exposure-level _crf products of the demo run: the sky levels and the aligned WCS they carry,
against the simulator's truth."""

import json

import numpy as np
import pytest
import simdata
from astropy.table import Table
from stdatamodels.jwst import datamodels
from workflow_helpers import PRODUCT, SMALL

from image3.io.dq import DQ_FLAGS
from image3.skymatch.settings import SkySettings
from image3.skymatch.statistics import sky_statistic

pytestmark = pytest.mark.workflow


def test_crf_carry_the_sky_levels_and_the_mosaic_sky_is_subtracted(demo):
    """global+match: each _crf records its exposure's true sky level within 0.0005 MJy/sr, and the
    mosaic (resample subtracts the recorded levels) has a sky near zero instead of 0.22-0.3."""
    truth = json.loads((demo / "demo" / "truth" / "exposures.json").read_text())["exposures"]
    out = demo / "results" / PRODUCT
    for entry in truth:
        with datamodels.open(out / f"{entry['name']}_o001_crf.fits") as crf:
            bkg = crf.meta.background
            assert bkg.method == "global+match" and bkg.subtracted is False
            assert abs(bkg.level - entry["sky_level"]) < 0.0005
    with datamodels.open(out / f"{PRODUCT}_i2d.fits") as i2d:
        data = i2d.data[np.isfinite(i2d.data)]
    # Unsubtracted it would be 0.22-0.30 MJy/sr; faint source light leaves a few 1e-3 in a dense field.
    assert abs(sky_statistic(data, SkySettings(skystat="mode")).value) < 0.01


def test_crf_files_carry_the_aligned_wcs(demo):
    """The crf WCS agree with each other to 1 mas RMS (they disagreed by 0.1-0.5 arcsec as simulated)."""
    truth = json.loads((demo / "demo" / "truth" / "exposures.json").read_text())["exposures"]
    out = demo / "results" / PRODUCT
    wcs, cal_wcs = [], []
    for entry in truth:
        with datamodels.open(out / f"{entry['name']}_o001_crf.fits") as crf:
            wcs.append(crf.meta.wcs)
            assert crf.meta.cal_step.tweakreg == "COMPLETE"
        with datamodels.open(demo / "demo" / f"{entry['name']}_cal.fits") as cal:
            cal_wcs.append(cal.meta.wcs)
    shape = tuple(SMALL["simulate"]["shape"])
    assert simdata.relative_alignment_rms(cal_wcs, truth, shape) > 100
    assert simdata.relative_alignment_rms(wcs, truth, shape) < 1.0
    report = Table.read(out / f"{PRODUCT}_tweakreg.ecsv")
    assert report["aligned"].all() and (report["n_matched"][1:] >= 15).all()


def test_crf_outlier_pixels_are_nan_as_the_official_step_leaves_them(demo):
    """The pixels outlier detection flags (DQ OUTLIER added to the _cal's) are NaN in SCI, ERR and
    the three variances, as the official step leaves them; every other pixel keeps the _cal's
    values (the demo subtracts no sky). They are the injected cosmic rays: of those above S/N 10,
    299 of 300 are NaN (without the blanking none would be), and 6 of the 344 flagged pixels lie
    on no injected cosmic ray."""
    truth = json.loads((demo / "demo" / "truth" / "exposures.json").read_text())["exposures"]
    out = demo / "results" / PRODUCT
    arrays = ("data", "err", "var_poisson", "var_rnoise", "var_flat")
    hits = total = extra = flagged_all = 0
    for entry in truth:
        with (
            datamodels.open(out / f"{entry['name']}_o001_crf.fits") as crf,
            datamodels.open(demo / "demo" / f"{entry['name']}_cal.fits") as cal,
        ):
            flagged = (crf.dq & DQ_FLAGS["OUTLIER"] > 0) & (cal.dq & DQ_FLAGS["OUTLIER"] == 0)
            assert flagged.any()
            for name in arrays:
                got, was = getattr(crf, name), getattr(cal, name)
                assert np.isnan(got[flagged]).all(), name
                np.testing.assert_array_equal(got[~flagged], was[~flagged], err_msg=name)
            crs = Table.read(demo / "demo" / "truth" / f"{entry['name']}_cosmic_rays.ecsv")
            on_cr = np.zeros(flagged.shape, bool)
            on_cr[crs["y"], crs["x"]] = True
            strong = crs[crs["snr"] > 10]
            hits += np.isnan(crf.data[strong["y"], strong["x"]]).sum()
            total += len(strong)
            extra += (flagged & ~on_cr).sum()
            flagged_all += flagged.sum()
    assert total > 50 and hits / total > 0.97
    assert extra / flagged_all < 0.03
