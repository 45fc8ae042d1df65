"""The simulator's real-sky artefacts (image3/simulate/artefacts.py) against their own physics:
saturation where the first group fills the well, spikes fixed in V2/V3 that turn with the roll,
flux kept, 1/f row offsets per amplifier, the gradient and the wisp, visits and the truth file."""

import numpy as np
import pytest
from astropy.io import fits
from simdata import settings, simulate_with_artefacts

from image3.simulate.artefacts import amplifier_index, one_over_f, psf_wings, saturation, spike_angles
from image3.simulate.dataset import write_artefact_truth
from image3.simulate.detector import DO_NOT_USE, SATURATED
from image3.simulate.exposure import SYNTHETIC_FRAME_TIME
from image3.wcs.jwst_wcs import Pointing, imaging_wcs

ALL = ["saturated_stars", "diffraction_spikes", "one_over_f", "large_galaxy", "gradient", "wisp"]


@pytest.fixture(scope="module")
def real_sky():
    """Two visits of two dithers, 384², 4 degrees apart in roll, every artefact on."""
    sim = settings(
        shape=[384, 384],
        n_exposures=4,
        visits=2,
        visit_roll_step_deg=4.0,
        artefacts=ALL,
        large_galaxy_r_eff=[1.0, 1.2],
    )
    return sim, *simulate_with_artefacts(sim)


def test_visits_name_number_and_turn_the_exposures(real_sky):
    sim, scene, truth, models, crs, arts = real_sky
    names = [m.meta.filename for m in models]
    assert names == [f"jw01234001{v:03d}_03101_{k:05d}_nrca1_cal.fits" for v in (1, 2) for k in (1, 2)]
    assert [m.meta.observation.visit_number for m in models] == ["001", "001", "002", "002"]
    rolls = [e["nominal"]["roll_ref"] for e in truth]
    assert rolls[0] == rolls[1] == sim["roll"] and rolls[2] == rolls[3] == sim["roll"] + 4.0


def test_saturated_pixels_are_nan_and_flagged_where_the_first_group_fills(real_sky):
    """Every SATURATED | DO_NOT_USE pixel the truth names is NaN in SCI, ERR and the variances;
    they are the cores of stars brighter than AB 19 (none beyond 0.3" of one), the bright stars'
    among them."""
    sim, scene, truth, models, crs, arts = real_sky
    bright = scene[scene["artefact"] == "bright_star"]
    assert len(bright) == sim["bright_star_count"]
    for model, art, entry in zip(models, arts, truth, strict=True):
        lost = art["saturated"]
        assert lost.sum() > 0
        flagged = (model.dq & (SATURATED | DO_NOT_USE)) == (SATURATED | DO_NOT_USE)
        assert np.all(flagged[lost])
        for array in (model.data, model.err, model.var_poisson, model.var_rnoise, model.var_flat):
            assert np.all(np.isnan(array[lost]))
            assert np.isfinite(array[~lost & (model.dq == 0)]).all()
        from image3.simulate.dataset import truth_wcs

        stars = scene[(scene["type"] == "star") & (scene["mag_ab"] < 19)]
        wcs = truth_wcs(entry, shape=model.data.shape)
        bx, by = wcs.invert(stars["ra"], stars["dec"], with_bounding_box=False)
        ys, xs = np.nonzero(lost)
        distance = np.hypot(xs[:, None] - bx[None, :], ys[:, None] - by[None, :]).min(axis=1)
        assert distance.max() * 0.0311 < 0.3
        sx, sy = wcs.invert(bright["ra"], bright["dec"], with_bounding_box=False)
        inside = (sx > 2) & (sx < model.data.shape[1] - 3) & (sy > 2) & (sy < model.data.shape[0] - 3)
        assert all(lost[int(round(y)), int(round(x))] for x, y in zip(sx[inside], sy[inside], strict=True))


def test_saturation_rule_follows_the_full_well():
    signal = np.array([1.0, 100.0, 1e4, 1e5])  # MJy/sr over the exposure
    gain, exptime, full = 330.0, 107.4, 60_000.0
    lost, good = saturation(signal, gain, exptime, SYNTHETIC_FRAME_TIME, full)
    rate = signal * gain / exptime
    assert list(lost) == list(rate * SYNTHETIC_FRAME_TIME > full)
    assert good[0] == exptime and good[1] == exptime  # 33,000 electrons: never full
    assert SYNTHETIC_FRAME_TIME <= good[2] < exptime  # fills part-way: its unsaturated groups


def _ray_profile(wing, x, y, angle_on_detector, radius):
    """Mean of ``wing`` at ``radius`` pixels from (x, y) towards ``angle_on_detector`` (deg from +y
    towards +x), over the pixels within 1 pixel of that point."""
    a = np.deg2rad(angle_on_detector)
    px, py = x + radius * np.sin(a), y + radius * np.cos(a)
    yy, xx = np.mgrid[0 : wing.shape[0], 0 : wing.shape[1]]
    near = np.hypot(xx - px, yy - py) <= 1.0
    return wing[near].mean() if near.any() else np.nan


def test_spikes_are_fixed_in_v2v3_and_carry_their_flux():
    """On a detector whose V3 axis is +y (the synthetic one, V3 angle 0), each of the six main
    rays stands > 3 times above the halo 15 degrees off it at 1.5" (the V2 rays > 0.3 times),
    the V2 rays weaker than the main ones, and the drawn wings hold the flux they took from the
    core (within the share beyond their reach)."""
    shape = (401, 401)
    pointing = Pointing(53.16, -27.8, 30.0)
    to_v2v3 = imaging_wcs(shape, pointing).get_transform("detector", "v2v3")
    flux, fraction, scale = 1e-2, 0.03, 0.0311
    drawn = psf_wings(
        flux, 200.0, 200.0, to_v2v3, shape, filter_name="F150W", pixel_scale=scale, fraction=fraction,
        noise_jy_arcsec2=1e-9,
    )  # fmt: skip
    index, stamp = drawn
    wing = np.zeros(shape)
    wing[index] = stamp
    r = 1.5 / scale
    for angle, weight in spike_angles():
        # the synthetic detector's V3 runs along +y and V2 along -x (parity -1, V3 angle 0)
        on = _ray_profile(wing, 200.0, 200.0, -angle, r)
        off = _ray_profile(wing, 200.0, 200.0, -angle + 15.0, r)
        assert on - off > (3.0 if weight == 1.0 else 0.3) * off
    main = _ray_profile(wing, 200.0, 200.0, 0.0, r)
    faint = _ray_profile(wing, 200.0, 200.0, -90.0, r)
    assert faint < 0.3 * main
    wing_share = fraction * sum(w for a, w in spike_angles()) / 6 + 0.02
    assert wing.sum() == pytest.approx(flux * wing_share, rel=0.1)


def test_spikes_turn_with_the_roll_on_the_sky(real_sky):
    """The same bright star's main spike seen in the two visits points to position angles 4 deg
    apart on the sky (the roll step), within 0.5 deg."""
    sim, scene, truth, models, crs, arts = real_sky
    from image3.simulate.dataset import truth_wcs

    star = scene[scene["artefact"] == "bright_star"][0]
    angles = []
    for k in (0, 2):
        wcs = truth_wcs(truth[k], shape=models[k].data.shape)
        x0, y0 = wcs.invert(star["ra"], star["dec"])
        # the spike along +V3 runs along +y on this detector: where it is brightest 40-60 px out
        wing = arts[k]["wings"]
        ys = np.arange(int(y0) + 40, int(y0) + 60)
        ys = ys[(ys >= 0) & (ys < wing.shape[0])]
        if ys.size < 10:
            ys = np.arange(int(y0) - 60, int(y0) - 40)
        columns = np.arange(int(x0) - 4, int(x0) + 5)
        cut = wing[ys][:, columns] - np.median(wing[ys][:, [0, -1]], axis=1)[:, None]
        xs = (cut * columns).sum(axis=1) / cut.sum(axis=1)
        ra, dec = wcs(xs, ys)
        ra0, dec0 = wcs(x0, y0)
        east = (ra - ra0) * np.cos(np.deg2rad(dec0))
        north = dec - dec0
        angles.append(np.degrees(np.arctan2(np.median(east), np.median(north))))
    turn = (angles[1] - angles[0] + 180) % 360 - 180
    assert abs(abs(turn) - 4.0) < 0.5


def test_one_over_f_rows_per_amplifier():
    """Offsets are constant along an amplifier's part of a row, have the asked RMS, most of their
    power at low frequencies (1/f), and are correlated between amplifiers (the common part)."""
    rng = np.random.default_rng(1)
    shape = (1024, 256)
    amps = amplifier_index(shape, instrument="synthetic")
    image, offsets = one_over_f(rng, shape, 0.05, amps)
    assert offsets.shape == (1024, 4)
    assert np.allclose(offsets.std(axis=0), 0.05, rtol=1e-6)
    assert np.array_equal(image[:, 0], offsets[:, 0]) and np.array_equal(image[:, -1], offsets[:, 3])
    power = np.abs(np.fft.rfft(offsets[:, 0])) ** 2
    assert power[1:20].mean() > 10 * power[-200:].mean()
    assert np.corrcoef(offsets[:, 0], offsets[:, 1])[0, 1] > 0.5
    full = amplifier_index((10, 2048), instrument="nircam_sw")
    assert list(full[[0, 511, 512, 2047]]) == [0, 0, 1, 3]
    assert list(amplifier_index((1, 8), instrument="miri")) == [0, 1, 2, 3, 0, 1, 2, 3]


def test_gradient_and_wisp_are_fixed_on_the_detector(real_sky):
    """The gradient is zero on average with the asked amplitude, the wisp peaks at its fraction
    of the sky, both the same on every exposure of the detector (relative to its sky)."""
    sim, scene, truth, models, crs, arts = real_sky
    sky = [e["sky_level"] for e in truth]
    assert abs(arts[0]["gradient"].mean()) < 1e-9
    assert np.ptp(arts[0]["gradient"]) == pytest.approx(sim["gradient"] * sky[0], rel=0.3)
    assert arts[0]["wisp"].max() == pytest.approx(sim["wisp"] * sky[0], rel=0.05)
    for key in ("gradient", "wisp"):
        assert np.allclose(arts[0][key] / sky[0], arts[3][key] / sky[3])


def test_stripes_are_in_the_data():
    """On an empty sky, each amplifier's row medians follow the truth's 1/f offsets (correlation
    > 0.95; the offsets' RMS is half the pixel noise, a row median's noise 1/10 of it)."""
    sim = settings(
        shape=[256, 256], n_exposures=1, star_density=0, galaxy_density=0, artefacts=["one_over_f"]
    )
    _, _, models, _, arts = simulate_with_artefacts(sim)
    data = np.where(models[0].dq == 0, models[0].data, np.nan)
    amps = amplifier_index(data.shape, instrument="synthetic")
    for a in range(4):
        rows = np.nanmedian(data[:, amps == a], axis=1)
        assert np.corrcoef(rows, arts[0]["one_over_f"][:, a])[0, 1] > 0.95


def test_large_galaxy_is_in_the_scene(real_sky):
    sim, scene, *_ = real_sky
    galaxy = scene[scene["artefact"] == "large_galaxy"]
    assert len(galaxy) == 1 and galaxy["type"][0] == "galaxy"
    assert sim["large_galaxy_r_eff"][0] <= galaxy["r_eff"][0] <= sim["large_galaxy_r_eff"][1]


def test_artefact_truth_file_round_trips(real_sky, tmp_path):
    *_, arts = real_sky
    path = tmp_path / "a_artefacts.fits"
    write_artefact_truth(arts[0], path)
    with fits.open(path) as hdul:
        assert hdul[0].header["ARTEFACT"].split() == sorted(arts[0])
        assert np.array_equal(hdul["SATURATED"].data.astype(bool), arts[0]["saturated"])
        assert np.allclose(hdul["WINGS"].data, arts[0]["wings"], rtol=1e-6)


def test_artefacts_off_leave_the_clean_simulation_unchanged():
    """With no artefacts the files are as before: no NaN, no SATURATED flag, no artefact truth;
    turning on the gradient adds it (block means of the difference follow it)."""
    sim = settings(shape=[256, 256], n_exposures=1, star_density=0, galaxy_density=0, cosmic_ray_rate=0.0)
    _, _, clean, _, arts = simulate_with_artefacts(sim)
    assert list(arts[0]) == ["saturated"] and not arts[0]["saturated"].any()
    assert np.isfinite(clean[0].data).all() and not np.any(clean[0].dq & SATURATED)
    _, _, grad, _, garts = simulate_with_artefacts({**sim, "artefacts": ["gradient"]})
    difference = grad[0].data.astype(float) - clean[0].data
    good = clean[0].dq == 0  # hot pixels' excess is drawn after the noise: not the same

    def blocks(image):
        return np.nanmean(np.where(good, image, np.nan).reshape(8, 32, 8, 32), axis=(1, 3)).ravel()

    assert np.corrcoef(blocks(difference), blocks(garts[0]["gradient"]))[0, 1] > 0.9


def test_qa_figure_of_the_artefacts(real_sky, tmp_path):
    """The report's look at the artefacts is drawn from a _cal file and its truth file."""
    from image3.io.level2b import save_model
    from image3.simulate.qa import plot_artefacts

    *_, models, crs, arts = real_sky
    cal, truth, png = tmp_path / "e_cal.fits", tmp_path / "e_artefacts.fits", tmp_path / "e.png"
    save_model(models[0], cal)
    write_artefact_truth(arts[0], truth)
    plot_artefacts(cal, truth, png)
    assert png.stat().st_size > 20_000


@pytest.mark.parametrize("artefacts", [[], ["wisp"]])
def test_rule_all_asks_for_the_artefacts_figure_only_with_artefacts(tmp_path, artefacts):
    import subprocess
    import sys

    import yaml
    from workflow_helpers import REPO

    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({"simulate": {"artefacts": artefacts}}))
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--cores", "1", "--configfile", str(config),
         "--directory", str(tmp_path), "--snakefile", str(REPO / "Snakefile")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert ("simulate_qa" in result.stdout) == bool(artefacts)


def test_the_scenes_galaxies_keep_their_sub_pixel_sampling():
    """Only galaxies wider than WIDE_GALAXY_ARCSEC (the large galaxy) are drawn at one sample per
    pixel; the scene's own (r_eff <= 0.4") keep three, so clean simulations are as before."""
    from image3.simulate.exposure import (  # the renderer's own steps
        WIDE_GALAXY_ARCSEC,
        _add_stamp,
        _jacobian,
        render_sources,
    )
    from image3.simulate.psf import PixelIntegratedPSF
    from image3.simulate.scene import galaxy_stamp, make_scene_rows

    shape = (101, 101)
    wcs = imaging_wcs(shape, Pointing(53.16, -27.8, 30.0))
    ra, dec = wcs(50.3, 49.8)
    rows = [{"type": "galaxy", "artefact": "", "x": 0.0, "y": 0.0, "mag_ab": 20.0, "sersic_n": 1.5,
             "r_eff": 0.4, "axis_ratio": 0.6, "pa": 30.0}]  # fmt: skip
    scene = make_scene_rows(rows, ra, dec)
    psf = PixelIntegratedPSF("F090W", 0.0311)
    image = render_sources(scene, wcs, shape, psf, 0.0311)
    x, y = wcs.invert(scene["ra"][0], scene["dec"][0])
    ix, iy = int(np.round(x)), int(np.round(y))
    stamp = galaxy_stamp(scene[0], _jacobian(wcs, x, y), psf.kernel(3), 3, 0.0311, x - ix, y - iy)
    expected = np.zeros(shape)
    _add_stamp(expected, scene["flux_jy"][0] * stamp, ix, iy)
    np.testing.assert_allclose(image, expected)
    assert 0.4 < WIDE_GALAXY_ARCSEC <= 2.0
