"""tweakreg against the simulator's truth: relative and absolute alignment, robustness."""

import functools

import numpy as np
import pytest
import simdata
from astropy.table import Table

from image3.errors import InputError
from image3.tweakreg import alignment
from image3.tweakreg.settings import DetectionSettings, FitSettings
from image3.utils.psf_width import detection_fwhm


def _exposure_catalogs(models, filter_name, settings=None):
    settings = settings or DetectionSettings()
    fwhm = settings.kernel_fwhm or detection_fwhm(filter_name, 0.0311)
    return simdata.exposure_catalogs(models, fwhm, settings)


@functools.cache
def _dataset(filter_name):
    """6 exposures of 1024^2 with the default config (pointing errors up to 0.5 arcsec, 0.05 deg)."""
    scene, truth, models, _ = simdata.simulate(simdata.settings(filter=filter_name))
    return filter_name, scene, truth, models


@pytest.mark.parametrize("filter_name", ["F150W", "F090W"])
def test_relative_alignment_reaches_sub_mas(filter_name):
    """Residual between exposures after alignment: <= 1 mas (F150W) and <= 2 mas (F090W, FWHM ~1
    pixel) RMS over the chip, from 340 mas before; about 150 sources per exposure."""
    filter_name, scene, truth, models = _dataset(filter_name)
    shape = models[0].data.shape
    exposures = _exposure_catalogs(models, filter_name)
    assert 120 <= np.median([len(e.catalog) for e in exposures]) <= 260
    before = simdata.relative_alignment_rms([e.wcs for e in exposures], truth, shape)
    alignment.align_relative(exposures, FitSettings())
    after = simdata.relative_alignment_rms([e.wcs for e in exposures], truth, shape)
    assert before > 100
    assert after <= (1.0 if filter_name == "F150W" else 2.0), after
    report = alignment.report(exposures)
    assert report["aligned"].all()
    # The applied corrections are the injected errors relative to the reference exposure.
    reference = [k for k, e in enumerate(exposures) if "REFERENCE" in report["status"][k]][0]
    for k, row in enumerate(report):
        expected = np.array([truth[k]["error_east"], truth[k]["error_north"]]) - [
            truth[reference]["error_east"],
            truth[reference]["error_north"],
        ]
        assert np.hypot(*(np.array([row["shift_east"], row["shift_north"]]) - expected)) < 0.01


def test_absolute_alignment_to_a_noisy_reference_catalog():
    """Reference catalog = true star positions + 5 mas noise: absolute error <= 3 mas RMS."""
    filter_name, scene, truth, models = _dataset("F150W")
    shape = models[0].data.shape
    rng = np.random.default_rng(5)
    stars = scene[scene["type"] == "star"]
    noise = rng.normal(0, 5.0 / 3.6e6, (2, len(stars)))
    refcat = Table(
        {"RA": stars["ra"] + noise[0] / np.cos(np.deg2rad(stars["dec"])), "DEC": stars["dec"] + noise[1]}
    )
    exposures = _exposure_catalogs(models, filter_name)
    alignment.align_relative(exposures, FitSettings())
    abs_settings = FitSettings(searchrad=6.0, separation=1.0, tolerance=0.7)
    alignment.align_absolute(exposures, refcat, abs_settings)
    _, offsets = simdata.wcs_errors_mas([e.wcs for e in exposures], truth, shape)
    rms = np.sqrt(np.mean(offsets**2) * 2)
    assert rms <= 3.0, rms


def test_reference_catalog_proper_motion_and_errors(tmp_path):
    table = Table({"ra": [10.0], "dec": [0.0], "pmra": [1000.0], "pmdec": [-2000.0], "ref_epoch": [2016.0]})
    table.write(tmp_path / "gaia.ecsv")
    moved = alignment.read_reference_catalog(tmp_path / "gaia.ecsv", obs_mjd=59580.0 + 365.25 * 6)  # ~2028.0
    years = 2028.0 - 2016.0
    assert moved["DEC"][0] == pytest.approx(-2.0 * years / 3600, rel=1e-3)
    assert moved["RA"][0] == pytest.approx(10.0 + 1.0 * years / 3600, rel=1e-6)
    Table({"ra": [1.0], "dec": [1.0], "pmra": [1.0], "pmdec": [1.0]}).write(tmp_path / "noepoch.ecsv")
    with pytest.raises(InputError, match="abs_epoch"):
        alignment.read_reference_catalog(tmp_path / "noepoch.ecsv", obs_mjd=60000.0)
    Table({"x": [1.0]}).write(tmp_path / "nora.ecsv")
    with pytest.raises(InputError, match="RA/Dec"):
        alignment.read_reference_catalog(tmp_path / "nora.ecsv")


@pytest.fixture(scope="module")
def small():
    sim = simdata.settings(shape=[512, 512], n_exposures=3, star_density=900)
    scene, truth, models, _ = simdata.simulate(sim)
    return truth, models


def test_exposure_with_five_sources_is_left_unaligned_and_flagged(small):
    truth, models = small
    exposures = _exposure_catalogs(models, "F150W")
    exposures[2].catalog = exposures[2].catalog[:5]
    alignment.align_relative(exposures, FitSettings())
    report = alignment.report(exposures)
    assert list(report["aligned"]) == [True, True, False]
    assert "FAILED" in report["status"][2] or "SKIPPED" in report["status"][2]
    assert exposures[2].wcs is exposures[2].original_wcs
    assert abs(report["shift_east"][2]) < 1e-9 and abs(report["shift_north"][2]) < 1e-9


def test_fit_moving_further_than_searchrad_plus_tolerance_is_rejected(small):
    """With the 2D histogram off and the true offset given as x/yoffset, matching succeeds but the
    resulting shift exceeds searchrad + tolerance, so the fit must be refused."""
    truth, models = small
    probe = _exposure_catalogs(models, "F150W")[:2]
    alignment.align_relative(probe, FitSettings(), refine_tolerance=0)
    shift = probe[1].info["relative"]
    assert shift["status"] == "SUCCESS" and np.hypot(shift["shift_x"], shift["shift_y"]) > 0.2
    tight = FitSettings(
        searchrad=0.05, tolerance=0.05, use2dhist=False, xoffset=-shift["shift_x"], yoffset=-shift["shift_y"]
    )
    exposures = _exposure_catalogs(models, "F150W")[:2]
    alignment.align_relative(exposures, tight, refine_tolerance=0)
    report = alignment.report(exposures)
    assert "REJECTED" in report["status"][1]
    assert exposures[1].wcs is exposures[1].original_wcs


def test_single_exposure_skips_relative_alignment(small):
    truth, models = small
    exposures = _exposure_catalogs(models[:1], "F150W")
    alignment.align_relative(exposures, FitSettings())
    assert "SKIPPED" in alignment.report(exposures)["status"][0]


def test_match_residuals_equal_pairwise_sky_matching():
    """The k-d tree matching gives what matching every exposure to every other with SkyCoord
    gives: each source's mean offset (mas) from its nearest source in each other exposure within
    the radius, for sources near RA 0 (wrap-around) at a high declination."""
    from types import SimpleNamespace

    from astropy import units as u
    from astropy.coordinates import SkyCoord

    from image3.tweakreg.qa import match_residuals

    rng = np.random.default_rng(3)
    stars = np.column_stack([rng.uniform(-0.004, 0.004, 300), 71.0 + rng.uniform(-0.003, 0.003, 300)])

    def exposure(k, keep, jitter_mas):
        ra = (stars[keep, 0] + rng.normal(0, jitter_mas, keep.sum()) / 3.6e6) % 360
        dec = stars[keep, 1] + rng.normal(0, jitter_mas, keep.sum()) / 3.6e6
        x, y = rng.uniform(0, 100, keep.sum()), rng.uniform(0, 100, keep.sum())
        lookup = {(a, b): (r, d) for a, b, r, d in zip(x, y, ra, dec, strict=True)}

        def wcs(xs, ys, with_bounding_box=False):
            return np.array([[lookup[a, b][i] for a, b in zip(xs, ys, strict=True)] for i in (0, 1)])

        return SimpleNamespace(name=f"e{k}", wcs=wcs, catalog=Table({"x": x, "y": y}))

    exposures = [exposure(k, rng.random(300) < 0.7, 20.0) for k in range(4)]
    table = match_residuals(exposures, radius_arcsec=0.05)

    expected = []
    skies = [SkyCoord(*e.wcs(e.catalog["x"], e.catalog["y"]), unit="deg") for e in exposures]
    for i, e in enumerate(exposures):
        sums, count = np.zeros((2, len(skies[i]))), np.zeros(len(skies[i]))
        for j, other in enumerate(skies):
            if j != i:
                idx, sep, _ = skies[i].match_to_catalog_sky(other)
                ok = sep < 0.05 * u.arcsec
                de, dn = other[idx].spherical_offsets_to(skies[i])
                sums += np.where(ok, [de.to_value(u.mas), dn.to_value(u.mas)], 0.0)
                count += ok
        has = count > 0
        expected += [
            (e.name, x, *(s / c))
            for x, s, c in zip(e.catalog["x"][has], sums.T[has], count[has], strict=True)
        ]
    assert len(table) == len(expected) > 500
    got = sorted(zip(table["exposure"], table["x"], table["d_east"], table["d_north"], strict=True))
    for (name, x, de, dn), (name0, x0, de0, dn0) in zip(got, sorted(expected), strict=True):
        assert (name, x) == (name0, x0)
        assert abs(de - de0) < 1e-3 and abs(dn - dn0) < 1e-3  # mas


def test_alignment_figure_panels_the_worst_exposures_of_many(tmp_path):
    """Of 30 exposures, the figure draws residual panels for the 12 with the largest RMS: one
    without matches first, one with 4x the others' residuals, in the report's order."""
    from astropy.table import vstack

    from image3.tweakreg.qa import _residuals_by_exposure, _worst_exposures, plot_alignment

    rng = np.random.default_rng(5)
    names = [f"e{k:02d}" for k in range(30)]
    residuals = vstack(
        [
            Table(
                {
                    "exposure": [name] * 50,
                    "x": rng.uniform(0, 100, 50),
                    "y": rng.uniform(0, 100, 50),
                    "d_east": rng.normal(0, 4.0 if name == "e17" else 1.0, 50),
                    "d_north": rng.normal(0, 1.0, 50),
                }
            )
            for name in names
            if name != "e03"
        ]
    )
    shown = _worst_exposures(names, _residuals_by_exposure(residuals), 12)
    assert len(shown) == 12 and {"e03", "e17"} <= set(shown) and shown == sorted(shown)
    assert _worst_exposures(names[:5], _residuals_by_exposure(residuals), 12) == names[:5]
    report = Table(
        {
            "exposure": names,
            "aligned": [True] * 30,
            "shift_east": rng.normal(0, 0.2, 30),
            "shift_north": rng.normal(0, 0.2, 30),
            "rotation": rng.normal(0, 1e-4, 30),
        }
    )
    plot_alignment(report, residuals, tmp_path / "a.png")
    assert (tmp_path / "a.png").stat().st_size > 10_000
