"""The demo simulator writes official level-2b files and its truth describes them."""

import numpy as np
import pytest
import simdata
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.stats import sigma_clipped_stats
from astropy.wcs import WCS as FitsWCS
from photutils.psf import fit_fwhm
from stdatamodels.jwst import datamodels

from image3.io.level2b import open_level2b, save_model
from image3.simulate.exposure import ARCSEC2_TO_SR
from image3.simulate.observation import ExposurePointing
from image3.simulate.psf import PixelIntegratedPSF
from image3.utils.psf_width import detection_fwhm, diffraction_fwhm
from image3.wcs.jwst_wcs import imaging_wcs


@pytest.mark.parametrize("filter_name, low, high", [("F090W", 0.85, 1.35), ("F200W", 1.9, 2.5)])
def test_psf_follows_the_filter(filter_name, low, high):
    """F090W is undersampled (about 1 pixel FWHM), F200W about 2 pixels."""
    psf = PixelIntegratedPSF(filter_name, 0.0311)
    stamp = psf.stamp(0.0, 0.0)
    assert stamp.sum() == pytest.approx(1.0)
    fwhm = fit_fwhm(stamp, xypos=(psf.radius, psf.radius), fit_shape=5)[0]
    assert low < fwhm < high
    # fit_fwhm fits a pixel-integrated Gaussian, so it measures the optical FWHM; detection kernels
    # (sampled, not integrated) need the pixel's width added.
    assert diffraction_fwhm(filter_name, 0.0311) == pytest.approx(fwhm, rel=0.12)
    assert detection_fwhm(filter_name, 0.0311) > fwhm


def test_level2b_file_is_official_and_readable(default_small, tmp_path):
    sim, scene, truth, models, _ = default_small
    path = tmp_path / "x_cal.fits"
    save_model(models[0], path)
    with fits.open(path) as hdul:
        names = {h.name for h in hdul}
        assert {"SCI", "ERR", "DQ", "VAR_POISSON", "VAR_RNOISE", "VAR_FLAT", "AREA", "ASDF"} <= names
        header = hdul["SCI"].header
        assert header["BUNIT"] == "MJy/sr" and header["CTYPE1"] == "RA---TAN-SIP"
        assert "S_REGION" in header and "V3I_YANG" in header and "A_ORDER" in header
    model = open_level2b(path)
    assert isinstance(model, datamodels.ImageModel)
    assert model.meta.instrument.filter == sim["filter"]
    # The SIP header agrees with the gwcs to 0.01 pixel.
    y, x = np.mgrid[0:384:17, 0:384:17].astype(float)
    ra, dec = model.meta.wcs(x, y)
    xf, yf = FitsWCS(header).all_world2pix(ra, dec, 0)
    assert np.hypot(xf - x, yf - y).max() < 0.01


def test_noise_matches_err_and_sky_matches_truth(default_small):
    sim, scene, truth, models, _ = default_small
    for model, entry in zip(models, truth, strict=True):
        good = model.dq == 0
        data = model.data[good]
        _, median, _ = sigma_clipped_stats(data, sigma=2.5, maxiters=10)
        # The clipped median still sits a little above the sky because of faint source wings.
        assert entry["sky_level"] < median < entry["sky_level"] + 0.004
        sky = median
        low = data < np.percentile(data, 40)  # mostly empty sky
        noise = 1.4826 * np.median(np.abs(data - sky)[np.abs(data - sky) < 5 * 0.03])
        err = np.median(model.err[good][low])
        assert noise == pytest.approx(err, rel=0.08)
        var = model.var_poisson + model.var_rnoise + model.var_flat
        assert np.allclose(model.err**2, var, rtol=1e-4)


def test_injected_pointing_error_is_what_the_truth_says(default_small):
    """The file's WCS is off by exactly the recorded error: true positions seen through it shift."""
    sim, scene, truth, models, _ = default_small
    for model, entry in zip(models, truth, strict=True):
        p = ExposurePointing.from_dict({k: v for k, v in entry.items() if k != "sky_level"})
        true_wcs = imaging_wcs(model.data.shape, p.true)
        centre = ((model.data.shape[1] - 1) / 2, (model.data.shape[0] - 1) / 2)
        seen = SkyCoord(*model.meta.wcs(*centre), unit="deg")
        actual = SkyCoord(*true_wcs(*centre), unit="deg")
        east, north = seen.spherical_offsets_to(actual)
        assert east.arcsec == pytest.approx(p.error_east, abs=1e-3)
        assert north.arcsec == pytest.approx(p.error_north, abs=1e-3)
        size = np.hypot(p.error_east, p.error_north)
        assert sim["pointing_shift_arcsec"][0] <= size <= sim["pointing_shift_arcsec"][1]
        assert abs(p.error_roll) <= sim["pointing_roll_deg"]


def test_star_flux_in_an_exposure_matches_truth(aligned_f150w):
    """Sum of SCI x nominal pixel area x AREA over an isolated star is its injected flux."""
    sim, scene, truth, models, _ = aligned_f150w
    model = models[0]
    from image3.resample.grid import Grid

    shape = model.data.shape
    grid = Grid(model.meta.wcs, shape, 0.0311)
    radius = simdata.psf_radius(sim["filter"]) + 1
    rows, x, y = simdata.isolated_stars(scene, grid, radius, (18.0, 21.0))
    omega = model.meta.photometry.pixelarea_steradians
    flux_image = model.data * model.area * omega * 1e6  # Jy per pixel, sky included
    sky_image = truth[0]["sky_level"] * model.area * omega * 1e6
    yy, xx = np.indices(shape)
    clean = [
        not np.any(model.dq[np.hypot(xx - xi, yy - yi) < radius + 1]) for xi, yi in zip(x, y, strict=True)
    ]
    measured = simdata.aperture_flux(flux_image - sky_image, x[clean], y[clean], radius, annulus=None)
    assert sum(clean) >= 3
    assert np.allclose(measured / rows["flux_jy"][clean], 1.0, atol=0.006)
    assert omega == pytest.approx(0.0311**2 * ARCSEC2_TO_SR)


def test_cosmic_rays_are_unflagged_and_bad_pixels_flagged(default_small):
    sim, scene, truth, models, crs = default_small
    for model, cr in zip(models, crs, strict=True):
        assert len(cr) > 0
        x, y = np.asarray(cr["x"]), np.asarray(cr["y"])
        in_data = ~np.asarray(cr["dq_flagged"])
        assert np.all(model.dq[y, x][in_data] & 1 == 0) or np.mean(model.dq[y, x][in_data] == 0) > 0.99
        strong = (np.asarray(cr["snr"]) > 10) & in_data
        excess = (model.data[y, x] - np.median(model.data)) / model.err[y, x]
        assert np.mean(excess[strong] > 5) > 0.95
        hot = (model.dq & 2048) > 0
        dead = (model.dq & 1024) > 0
        assert hot.any() and dead.any()
        assert np.all(model.dq[hot | dead] & 1)


def test_cosmic_ray_morphologies_are_what_the_truth_says():
    """Every morphology of the mix, each as documented: tracks cross 2-10 pixels, a snowball's
    core of 5-20 pixels is flagged JUMP_DET + SATURATED (not DO_NOT_USE) and holds no excess, its
    halo is unflagged; brightest pixels span the configured energies."""
    sim = simdata.settings(
        shape=[256, 256],
        n_exposures=1,
        star_density=0,
        galaxy_density=0,
        cosmic_ray_rate=4e-3,
        cosmic_ray_mix={"single": 1, "track": 1, "core": 1, "snowball": 0.2},
    )
    _, _, (model,), (cr,) = simdata.simulate(sim)
    morph, event = np.asarray(cr["morphology"]), np.asarray(cr["event"])
    x, y, flagged = np.asarray(cr["x"]), np.asarray(cr["y"]), np.asarray(cr["dq_flagged"])
    assert set(morph) == {"single", "track", "core", "snowball"}
    sizes = {m: np.bincount(event[morph == m])[np.unique(event[morph == m])] for m in set(morph)}
    assert np.all(sizes["single"] <= 1) and np.all(sizes["core"] <= 4)
    assert sizes["track"].max() <= 10 and np.mean(sizes["track"] >= 2) > 0.9  # edges cut some
    assert not flagged[morph != "snowball"].any()
    for e in np.unique(event[morph == "snowball"]):
        core = (event == e) & flagged
        assert 1 <= core.sum() <= 20 and (event == e).sum() > core.sum()
    core_dq = model.dq[y[flagged], x[flagged]]
    assert np.all(core_dq & 6 == 6) and not np.any((core_dq & 1) & ((core_dq & (1024 | 2048)) == 0))
    halo = (morph == "snowball") & ~flagged
    assert np.mean(model.dq[y[halo], x[halo]] & 6 == 0) > 0.95  # but where another core overlaps
    sky = np.median(model.data)
    excess = np.abs(model.data[y[flagged], x[flagged]] - sky) / model.err[y[flagged], x[flagged]]
    assert np.mean(excess < 5) > 0.95  # but where another cosmic ray overlaps
    peaks = np.array([cr["amplitude"][(event == e)].max() for e in np.unique(event[morph == "single"])])
    electrons = peaks * sim["electrons_per_mjysr"]
    assert electrons.min() >= 30 and electrons.max() <= 50_000 and np.median(electrons) > 500


def test_simulation_is_deterministic():
    sim = simdata.settings(shape=[128, 128], n_exposures=2, star_density=200)
    _, truth_a, models_a, _ = simdata.simulate(sim)
    _, truth_b, models_b, _ = simdata.simulate(sim)
    assert truth_a == truth_b
    assert np.array_equal(models_a[1].data, models_b[1].data)
