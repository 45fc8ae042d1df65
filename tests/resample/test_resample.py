"""resample against the simulator's truth: flux, astrometry, errors, sky and DQ handling."""

import numpy as np
import pytest
import simdata

from image3.errors import InputError
from image3.resample.drizzle import Exposure, Mosaic, coverage_count
from image3.resample.settings import DrizzleSettings
from image3.wcs.tangent_plane import native_pixel_scale


@pytest.mark.parametrize("kernel", ["square", "point"])
def test_isolated_star_flux_matches_truth(aligned_f150w, kernel):
    """Total flux of isolated bright stars in the mosaic equals the injected flux within 0.5 %."""
    sim, scene, truth, models, _ = aligned_f150w
    arrays, grid = simdata.drizzle(models, kernel=kernel)
    radius = simdata.psf_radius(sim["filter"]) + 1
    rows, x, y = simdata.isolated_stars(scene, grid, radius, (18.0, 21.5))
    assert len(rows) >= 8, "too few isolated bright stars for a meaningful test"
    ratio = simdata.aperture_flux(arrays["data"], x, y, radius) / simdata.truth_flux_in_mosaic(rows, grid)
    assert abs(np.median(ratio) - 1) < 0.005
    assert np.all(np.abs(ratio - 1) < 0.015), ratio


def test_bright_star_positions_match_truth(aligned_f150w):
    """Windowed centroids of bright stars sit within 0.05 output pixels of the true positions.

    (Square kernel. The point kernel moves each exposure's copy of a star by its rounding error, up to
    half a pixel, by design, so it is not held to this.)
    """
    sim, scene, truth, models, _ = aligned_f150w
    arrays, grid = simdata.drizzle(models, kernel="square")
    radius = simdata.psf_radius(sim["filter"]) + 1
    rows, x, y = simdata.isolated_stars(scene, grid, radius, (18.0, 21.0))
    measured = simdata.windowed_centroids(arrays["data"], x, y)
    offsets = np.hypot(measured[:, 0] - x, measured[:, 1] - y)
    assert len(rows) >= 8
    assert offsets.max() < 0.05, offsets


def _empty_sky(scene, grid, shape, distance_pix=40):
    """Mask of mosaic pixels farther than ``distance_pix`` from every source (and 3 r_eff)."""
    x, y = grid.wcs.invert(np.asarray(scene["ra"]), np.asarray(scene["dec"]), with_bounding_box=False)
    mask = np.ones(shape, bool)
    yy, xx = np.indices(shape)
    reach = distance_pix + 3 * np.asarray(scene["r_eff"]) / grid.pixel_scale
    for xi, yi, r in zip(x, y, reach, strict=True):
        if -r < xi < shape[1] + r and -r < yi < shape[0] + r:
            y0, y1 = int(max(yi - r, 0)), int(min(yi + r + 1, shape[0]))
            x0, x1 = int(max(xi - r, 0)), int(min(xi + r + 1, shape[1]))
            sub = (xx[y0:y1, x0:x1] - xi) ** 2 + (yy[y0:y1, x0:x1] - yi) ** 2 < r**2
            mask[y0:y1, x0:x1] &= ~sub
    return mask


def test_err_matches_measured_noise_of_empty_sky(default_small):
    """In each region of constant coverage, ERR equals the measured pixel noise within 10 %.

    Measured noise: the robust standard deviation (1.4826 MAD, insensitive to the unflagged cosmic
    rays) of source-free pixels whose contributing exposures are the same set (same CON value), so
    the unsubtracted sky is constant within the region.
    """
    sim, scene, truth, models, _ = default_small
    arrays, grid = simdata.drizzle(models)
    empty = _empty_sky(scene, grid, grid.shape) & np.isfinite(arrays["data"])
    con = arrays["con"][0]
    checked = 0
    for value in np.unique(con[empty]):
        region = empty & (con == value)
        if region.sum() < 1500:
            continue
        data = arrays["data"][region]
        noise = 1.4826 * np.median(np.abs(data - np.median(data)))
        err = np.median(arrays["err"][region])
        assert noise == pytest.approx(err, rel=0.10), (value, noise, err)
        checked += 1
    assert checked >= 3


def test_coverage_runs_from_one_to_all_exposures(default_small):
    """The dither pattern gives coverage from 1 to N exposures across the mosaic."""
    sim, scene, truth, models, _ = default_small
    arrays, grid = simdata.drizzle(models)
    coverage = coverage_count(arrays["con"])
    assert coverage.max() == sim["n_exposures"]
    assert (coverage == 1).sum() > 1000
    assert np.all(np.isnan(arrays["data"][coverage == 0]))


def test_coverage_counts_every_context_bit_of_every_plane():
    """Three planes (inputs 0-95), random bits, against a bit-by-bit count; a 2-D context alike."""
    rng = np.random.default_rng(7)
    con = rng.integers(-(2**31), 2**31 - 1, size=(3, 20, 30), endpoint=True).astype(np.int32)
    expected = sum(((con.astype("<u4") >> k) & 1).astype(int) for k in range(32)).sum(axis=0)
    assert np.array_equal(coverage_count(con), expected)
    assert np.array_equal(
        coverage_count(con[1]),
        expected - sum(((con[[0, 2]].astype("<u4") >> k) & 1).astype(int) for k in range(32)).sum(axis=0),
    )


@pytest.mark.parametrize(("processes", "kernel"), [(2, "square"), (3, "square"), (2, "lanczos3")])
def test_drizzle_in_forked_processes_equals_one_process(aligned_f150w, processes, kernel):
    """Inputs drizzled in runs by forked processes and merged give the one-process mosaic: SCI,
    WHT and the variances to float32 rounding, the context bits and totals exactly."""
    _, _, _, models, _ = aligned_f150w
    expected, grid = simdata.drizzle(models, kernel=kernel)
    mosaic = Mosaic(grid, DrizzleSettings(kernel=kernel), len(models))

    def load(k):
        m = models[k]
        return {
            "exposure": Exposure.from_model(m),
            "native_scale": native_pixel_scale(m.meta.wcs, m.data.shape),
        }

    mosaic.add_all(load, len(models), processes=processes)
    got = mosaic.arrays()
    assert mosaic.n_added == len(models)
    assert np.array_equal(got["con"], expected["con"])
    for name in ("data", "wht", "err", "var_rnoise", "var_poisson"):
        scale = np.nanmax(np.abs(expected[name]))
        np.testing.assert_allclose(got[name], expected[name], rtol=1e-5, atol=1e-6 * scale, equal_nan=True)


def test_bad_input_in_a_drizzle_process_is_an_input_error(aligned_f150w):
    """An input error met by a forked drizzle process stops the job as bad input, not a crash."""
    _, _, _, models, _ = aligned_f150w
    _, grid = simdata.drizzle(models[:1])
    mosaic = Mosaic(grid, DrizzleSettings(), len(models))

    def load(k):
        if k == len(models) - 1:  # in the forked process's run
            raise InputError("exposure_6_cal.fits: truncated")
        m = models[k]
        return {
            "exposure": Exposure.from_model(m),
            "native_scale": native_pixel_scale(m.meta.wcs, m.data.shape),
        }

    with pytest.raises(InputError, match="bad input"):
        mosaic.add_all(load, len(models), processes=2)


def test_known_sky_level_is_subtracted(aligned_f150w):
    """With meta.background.level set (not yet subtracted), the mosaic's sky is the residual only."""
    sim, scene, truth, models, _ = aligned_f150w
    for model, entry in zip(models, truth, strict=True):
        model.meta.background.level = entry["sky_level"]
        model.meta.background.subtracted = False
    try:
        arrays, grid = simdata.drizzle(models)
    finally:
        for model in models:
            model.meta.background.level = None
    sky = np.nanmedian(arrays["data"])
    # Sources make the median slightly positive; an unsubtracted sky would be >= 0.22 MJy/sr.
    assert abs(sky) < 0.01


def test_flagged_pixels_do_not_reach_the_mosaic(default_small):
    """Hot pixels (DO_NOT_USE) are excluded with the default good_bits and included with good_bits=~0."""
    sim, scene, truth, models, _ = default_small
    one = models[:1]
    clean, grid = simdata.drizzle(one)
    dirty, _ = simdata.drizzle(one, grid=grid, good_bits="~0")
    hot = (one[0].dq & 2048) > 0
    assert hot.sum() > 0
    # A hot pixel adds 5-50 MJy/sr; in the clean mosaic no pixel is that far above the sky.
    assert np.nanmax(dirty["data"]) > 5.0
    y, x = np.nonzero(hot)
    px, py = grid.wcs.invert(*one[0].meta.wcs(x, y))
    values = clean["data"][np.round(py).astype(int), np.round(px).astype(int)]
    assert np.nanmax(values) < 2.0


def test_exptime_weighting_and_bad_settings(aligned_f150w):
    sim, scene, truth, models, _ = aligned_f150w
    ivm, grid = simdata.drizzle(models[:2])
    exptime, _ = simdata.drizzle(models[:2], grid=grid, weight_type="exptime")
    both = np.isfinite(ivm["data"]) & np.isfinite(exptime["data"])
    # Equal read noise and exposure time: the two weightings agree up to a constant weight scale.
    assert np.allclose(ivm["data"][both], exptime["data"][both], atol=1e-4)
    with pytest.raises(InputError, match="resample.kernel"):
        DrizzleSettings(kernel="bilinear")
    with pytest.raises(InputError, match="resample.weight_type"):
        DrizzleSettings(weight_type="err")
    with pytest.raises(InputError, match="resample.fillval"):
        DrizzleSettings(fillval="zero")


@pytest.mark.parametrize("kernel", ["turbo", "gaussian", "lanczos2", "lanczos3"])
def test_every_official_kernel_drizzles(aligned_f150w, kernel):
    """All kernels run; turbo conserves flux like square, the others keep it within a few percent
    (drizzle documents that gaussian and lanczos do not conserve flux exactly)."""
    sim, scene, truth, models, _ = aligned_f150w
    arrays, grid = simdata.drizzle(models, kernel=kernel, pixfrac=1.0)
    radius = simdata.psf_radius(sim["filter"]) + 1
    rows, x, y = simdata.isolated_stars(scene, grid, radius, (18.0, 21.0))
    ratio = simdata.aperture_flux(arrays["data"], x, y, radius) / simdata.truth_flux_in_mosaic(rows, grid)
    tolerance = 0.005 if kernel == "turbo" else 0.05
    assert abs(np.median(ratio) - 1) < tolerance
    assert np.isfinite(arrays["err"][np.isfinite(arrays["data"])]).all()
