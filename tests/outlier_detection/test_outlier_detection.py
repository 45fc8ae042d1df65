"""Outlier detection against the simulator's truth: cosmic rays found, stars kept, few false flags."""

import dataclasses
import functools

import numpy as np
import pytest
import simdata
from astropy.io import fits
from scipy import ndimage

from image3.errors import InputError
from image3.outlier_detection import files as outlier_files
from image3.outlier_detection import outliers
from image3.outlier_detection.settings import FlagSettings
from image3.outlier_detection.spikes import along_lines, spike_directions
from image3.resample.drizzle import Exposure, weight_map
from image3.resample.grid import make_grid
from image3.resample.settings import DrizzleSettings
from image3.wcs.geometry import Geometry
from image3.wcs.pixmap import pixel_map

SETTINGS = DrizzleSettings(fillval="NaN", good_bits="~DO_NOT_USE")


# Three times the demo's cosmic-ray rate, so each morphology has enough pixels where one exposure
# covers the sky (the default mix; snowballs are 1 % of the events).
CR_RATE = 6e-4
MORPHOLOGIES = ("single", "track", "core", "snowball")


def _sim(filter_name, size=768, n_exposures=6, dither_spread=0.25):
    return simdata.settings(
        filter=filter_name,
        shape=[size, size],
        n_exposures=n_exposures,
        dither_spread=dither_spread,
        cosmic_ray_rate=CR_RATE,
    )


@functools.cache
def _aligned(filter_name, size=768, n_exposures=6, dither_spread=0.25):
    """Simulated exposures with their true WCS and sky levels (what tweakreg and skymatch give)."""
    sim = _sim(filter_name, size, n_exposures, dither_spread)
    scene, truth, models, crs = simdata.simulate(sim)
    _with_true_wcs_and_sky(models, truth)
    return scene, truth, models, crs


def _with_true_wcs_and_sky(models, truth):
    for model, entry in zip(models, truth, strict=True):
        model.meta.wcs = simdata.true_wcs(entry, model.data.shape)
        model.meta.background.level = entry["sky_level"]
        model.meta.background.subtracted = False


def _detect(models, truth, tmp_path, flag_settings=None):
    """Run singles, median, blot and flags as the workflow's jobs do (singles with their sky in,
    taken off by the median; each exposure blots its window of the median; the spikes' directions
    from each exposure's WCS and roll); returns masks and coverages per exposure."""
    flag_settings = flag_settings or FlagSettings()
    grid = make_grid([(m.meta.wcs, m.data.shape) for m in models])
    paths = []
    for k, m in enumerate(models):
        exposure = dataclasses.replace(Exposure.from_model(m), sky=0.0)
        single = outliers.single_image(exposure, grid, SETTINGS, 0.0311)
        paths.append(tmp_path / f"single{k}.fits")
        outlier_files.write_single(paths[-1], single)
    median = outlier_files.median_image(paths, sky_levels=[e["sky_level"] for e in truth])
    outlier_files.write_median(tmp_path / "median.fits", *median)
    masks, coverages = [], []
    for m, entry in zip(models, truth, strict=True):
        pixmap = pixel_map(m.meta.wcs, grid.wcs, m.data.shape)
        rows, columns = outliers.blot_window(pixmap, grid.shape)
        median, count = outlier_files.read_median(tmp_path / "median.fits", (rows, columns))
        blotted, coverage = outliers.blot(median, count, pixmap - [columns.start, rows.start])
        usable = (m.dq & 1) == 0
        mask, _ = outliers.flag_outliers(
            m.data, m.err, blotted, coverage, entry["sky_level"], flag_settings, usable, _spikes(m)
        )
        masks.append(mask)
        coverages.append(coverage)
    return masks, coverages, grid


def _spikes(model):
    """The spikes' directions on ``model``'s detector, as the workflow's outlier_flag job takes
    them: from its sampled WCS and ROLL_REF."""
    geometry = Geometry.from_wcs(model.meta.wcs, model.data.shape)
    return spike_directions(geometry, model.meta.wcsinfo.roll_ref)


OFFICIAL = FlagSettings(
    psf_term=0.0, curvature=0.0, derivative_noise=0.0, single_coverage_crs=False, spike_reach=0
)


@functools.cache
def _noiseless_bound(filter_name):
    """What a perfect median allows: the official thresholds (``OFFICIAL``) with each exposure's
    noiseless signal (``simdata.noiseless_exposure``) as its blot, the coverage the real blot's.
    Returns the recall as :func:`_cosmic_ray_recall` does."""
    import tempfile
    from pathlib import Path

    scene, truth, models, crs = _aligned(filter_name)
    with tempfile.TemporaryDirectory() as tmp:
        _, coverages, _ = _detect(models, truth, Path(tmp))
    masks = []
    for m, entry, coverage in zip(models, truth, coverages, strict=True):
        perfect = simdata.noiseless_exposure(_sim(filter_name), scene, entry)
        usable = (m.dq & 1) == 0
        mask, _ = outliers.flag_outliers(
            m.data, m.err, perfect, coverage, entry["sky_level"], OFFICIAL, usable
        )
        masks.append(mask)
    return _cosmic_ray_recall(models, crs, masks, coverages)


def _cosmic_ray_recall(models, crs, masks, coverages):
    """Fraction of cosmic-ray pixels flagged, and their number, by zone and morphology ("all" for
    every morphology): {(zone, morphology): (fraction, n)}. Zones: "cov2 snr>10", "cov2 snr5-10"
    (coverage >= 2), "cov1 snr>10". Pixels that DQ flags already (a snowball's core, bad pixels)
    are left out; a snowball's pixels are then its halo."""
    found = {}
    for m, cr, mask, cov in zip(models, crs, masks, coverages, strict=True):
        y, x, snr = np.asarray(cr["y"]), np.asarray(cr["x"]), np.asarray(cr["snr"])
        usable = ((m.dq[y, x] & 1) == 0) & ~np.asarray(cr["dq_flagged"])
        morphology = np.asarray(cr["morphology"])
        c = cov[y, x]
        for name, sel in (
            ("cov2 snr>10", (c >= 2) & (snr > 10)),
            ("cov2 snr5-10", (c >= 2) & (snr > 5) & (snr <= 10)),
            ("cov1 snr>10", (c == 1) & (snr > 10)),
        ):
            for kind in (*MORPHOLOGIES, "all"):
                pick = sel & usable & ((morphology == kind) | (kind == "all"))
                found.setdefault((name, kind), []).extend(mask[y, x][pick])
    return {k: (float(np.mean(v)) if v else float("nan"), len(v)) for k, v in found.items()}


def _false_fraction(models, crs, masks):
    flagged = false = 0
    for m, cr, mask in zip(models, crs, masks, strict=True):
        near = np.zeros(m.data.shape, bool)
        near[cr["y"], cr["x"]] = True
        near = ndimage.binary_dilation(near, structure=np.ones((3, 3), bool))
        flagged += mask.sum()
        false += (mask & ~near).sum()
    return false / flagged


def _flagged_star_fraction(scene, models, crs, masks, mag_limit=22.0):
    """Stars brighter than mag_limit with no cosmic ray within 3 px: fraction with a flag within 2 px."""
    stars = scene[(scene["type"] == "star") & (scene["mag_ab"] < mag_limit)]
    hits = []
    for m, cr, mask in zip(models, crs, masks, strict=True):
        crmask = np.zeros(m.data.shape, bool)
        crmask[cr["y"], cr["x"]] = True
        x, y = m.meta.wcs.invert(np.asarray(stars["ra"]), np.asarray(stars["dec"]), with_bounding_box=False)
        for xi, yi in zip(np.rint(x).astype(int), np.rint(y).astype(int), strict=True):
            if (
                3 <= xi < m.data.shape[1] - 3
                and 3 <= yi < m.data.shape[0] - 3
                and not crmask[yi - 3 : yi + 4, xi - 3 : xi + 4].any()
            ):
                hits.append(mask[yi - 2 : yi + 3, xi - 2 : xi + 3].any())
    return np.mean(hits), len(hits)


@pytest.mark.parametrize("filter_name", ["F090W", "F200W"])
def test_cosmic_rays_of_every_shape_found_stars_kept(filter_name, tmp_path):
    """Per morphology (simulator truth, 3x the demo's rate): where one exposure covers the sky
    >= 90 % of S/N > 10 pixels flagged (measured: F090W single 95 %, track 91 %, core 93 %; F200W
    100, 98, 97 %), where two or more do >= 99 % of single pixels, tracks and cores (F090W 99.0,
    99.2, 99.7 %; F200W 99.6, 99.2, 99.8 %; the misses are mostly on the wings of bright stars,
    under the official derivative term, which the official rule misses too) and the snowball halos
    (low-level charge, mostly below S/N 10: 19 and 16 pixels) at least what a noiseless median
    gives under the official thresholds (100 % and 94 %, 15 of 16: both miss the same faint halo
    pixel). No more than 1 % of stars brighter than AB 22 with a flag within 2 pixels (0.4 % and
    0 %), flags more than a pixel from any cosmic ray <= 0.5 % of all (0.03 % and 0.19 %; 0.05 % and
    0.48 % at the demo's rate)."""
    scene, truth, models, crs = _aligned(filter_name)
    masks, coverages, _ = _detect(models, truth, tmp_path)
    recall = _cosmic_ray_recall(models, crs, masks, coverages)
    for kind in ("single", "track", "core"):
        fraction, n = recall[("cov1 snr>10", kind)]
        assert n >= 25 and fraction >= 0.90, (kind, recall[("cov1 snr>10", kind)])
        fraction, n = recall[("cov2 snr>10", kind)]
        assert n >= 300 and fraction >= 0.99, (kind, recall[("cov2 snr>10", kind)])
    assert recall[("cov2 snr>10", "all")][0] >= 0.99, recall
    halos, n_halos = recall[("cov2 snr>10", "snowball")]
    assert n_halos > 0 and halos >= _noiseless_bound(filter_name)[("cov2 snr>10", "snowball")][0]
    stars, n_stars = _flagged_star_fraction(scene, models, crs, masks)
    assert n_stars > 100 and stars <= 0.01, stars
    assert _false_fraction(models, crs, masks) <= 0.005


def _official_and_ours(filter_name, tmp_path):
    """The aligned demo in ``filter_name`` flagged twice: with the official thresholds alone (no PSF
    and curvature terms, the derivative's noise left in, no single-coverage test) and with ours.
    Returns (scene, models, cosmic rays, official masks, coverages, our masks)."""
    scene, truth, models, crs = _aligned(filter_name)
    (tmp_path / "official").mkdir()
    (tmp_path / "ours").mkdir()
    masks, coverages, _ = _detect(models, truth, tmp_path / "official", OFFICIAL)
    ours, _, _ = _detect(models, truth, tmp_path / "ours")
    return scene, models, crs, masks, coverages, ours


@pytest.mark.parametrize("filter_name", ["F090W", "F200W"])
def test_cosmic_rays_at_snr_5_to_10_at_least_as_the_official_thresholds(filter_name, tmp_path):
    """Where two or more exposures overlap, cosmic-ray pixels of S/N 5-10: at least the official
    thresholds alone (no PSF and curvature terms, which eat star cores: below) and at least 85 % of
    what a noiseless median allows under them (:func:`_noiseless_bound`). Measured: F090W 86.3 %
    against 85.6 % (official) and 95.0 % (bound, 91 % of it); F200W 87.2 % against 84.7 % and
    90.5 % (96 %). Taking the median's noise derivative off on the sky (``derivative_noise``)
    gains 4-5 points, most of all on single pixels (65-72 % -> 74-76 %)."""
    _, models, crs, masks, coverages, ours = _official_and_ours(filter_name, tmp_path)
    theirs = _cosmic_ray_recall(models, crs, masks, coverages)[("cov2 snr5-10", "all")]
    mine = _cosmic_ray_recall(models, crs, ours, coverages)[("cov2 snr5-10", "all")]
    bound = _noiseless_bound(filter_name)[("cov2 snr5-10", "all")]
    assert mine[1] > 500 and mine[0] >= theirs[0] and mine[0] >= 0.85 * bound[0], (mine, theirs, bound)


def test_official_thresholds_alone_eat_undersampled_star_cores(tmp_path):
    """Without the PSF and curvature terms (the official thresholds), F090W star cores are flagged
    far more often: what the two terms buy."""
    scene, models, crs, masks, _, ours = _official_and_ours("F090W", tmp_path)
    flagged_official, _ = _flagged_star_fraction(scene, models, crs, masks)
    flagged_ours, _ = _flagged_star_fraction(scene, models, crs, ours)
    assert flagged_official > 5 * max(flagged_ours, 0.01), (flagged_official, flagged_ours)


@pytest.mark.parametrize("filter_name", ["F090W", "F200W"])
def test_star_flux_in_the_mosaic_survives_flagging(filter_name, tmp_path):
    """With the flags applied (DQ DO_NOT_USE), isolated stars brighter than AB 22 keep their flux
    in the mosaic within 1 % (F090W is the undersampled case)."""
    scene, truth, models, crs = _aligned(filter_name)
    masks, _, grid = _detect(models, truth, tmp_path)
    saved = [m.dq.copy() for m in models]
    try:
        for m, mask in zip(models, masks, strict=True):
            m.dq = m.dq | np.where(mask, np.uint32(1 | 16), np.uint32(0))
        arrays, grid = simdata.drizzle(models, grid=grid)
    finally:
        for m, dq in zip(models, saved, strict=True):
            m.dq = dq
    radius = simdata.psf_radius(filter_name) + 1
    rows, x, y = simdata.isolated_stars(scene, grid, radius, (18.0, 22.0))
    # Stars that no cosmic ray hit (within the aperture, in any exposure), as the issue asks.
    hit = np.zeros(len(rows), bool)
    for m, cr in zip(models, crs, strict=True):
        sx, sy = m.meta.wcs.invert(np.asarray(rows["ra"]), np.asarray(rows["dec"]), with_bounding_box=False)
        d = np.hypot(sx[:, None] - np.asarray(cr["x"])[None], sy[:, None] - np.asarray(cr["y"])[None])
        hit |= (d < radius + 1).any(axis=1) if len(cr) else False
    rows, x, y = rows[~hit], x[~hit], y[~hit]
    ratio = simdata.aperture_flux(arrays["data"], x, y, radius) / simdata.truth_flux_in_mosaic(rows, grid)
    assert len(rows) >= 3  # 3 in F200W at this cosmic-ray rate (3x the demo's), which hits most
    assert abs(np.median(ratio) - 1) < 0.01 and np.percentile(np.abs(ratio - 1), 90) < 0.02, ratio


def test_median_in_sections_equals_the_whole(tmp_path):
    scene, truth, models, crs = _aligned("F200W")
    grid = make_grid([(m.meta.wcs, m.data.shape) for m in models])
    paths = []
    for k, m in enumerate(models):
        paths.append(tmp_path / f"s{k}.fits")
        outlier_files.write_single(
            paths[-1], outliers.single_image(Exposure.from_model(m), grid, SETTINGS, 0.0311)
        )
    whole, count = outlier_files.median_image(paths, max_memory_mb=10_000, section_mb=10_000)
    parts = list(outlier_files.median_sections(paths, section_mb=0.5))
    assert len(parts) > 10
    np.testing.assert_array_equal(whole, np.concatenate([median for _, median, _ in parts]))
    np.testing.assert_array_equal(count, np.concatenate([c for _, _, c in parts]))
    assert [r0 for r0, _, _ in parts] == list(np.cumsum([0] + [len(m) for _, m, _ in parts[:-1]]))
    assert count.max() == len(models)
    # Each section's stack (as deep as the singles overlapping its rows, float32, twice for the
    # sort) within the 0.5 MB asked for, unless it is a single row.
    for r0, median, _ in parts:
        depth = sum(1 for p in paths if _rows_overlap(p, r0, r0 + len(median)))
        assert len(median) == 1 or depth * median.size * 4 * 2 / 1e6 <= 0.5


def _rows_overlap(single_path, r0, r1):
    header = fits.getheader(single_path, "SCI")
    return header["CUTY0"] < r1 and header["CUTY0"] + header["NAXIS2"] > r0


def test_sky_taken_off_by_the_median_equals_singles_drizzled_without_it(tmp_path):
    """The workflow's singles keep their sky (they run beside skymatch); the median takes each
    single's level off: the same median as singles drizzled sky-subtracted, to float32 rounding."""
    scene, truth, models, crs = _aligned("F200W")
    grid = make_grid([(m.meta.wcs, m.data.shape) for m in models])
    with_sky, without = [], []
    for k, m in enumerate(models):
        exposure = Exposure.from_model(m)
        for paths, e in ((with_sky, dataclasses.replace(exposure, sky=0.0)), (without, exposure)):
            paths.append(tmp_path / f"s{k}_{len(paths)}_{e.sky}.fits")
            outlier_files.write_single(paths[-1], outliers.single_image(e, grid, SETTINGS, 0.0311))
    levels = [e["sky_level"] for e in truth]
    median, count = outlier_files.median_image(with_sky, sky_levels=levels)
    expected, expected_count = outlier_files.median_image(without)
    np.testing.assert_array_equal(count, expected_count)
    np.testing.assert_allclose(median, expected, rtol=1e-6, atol=1e-5 * max(levels), equal_nan=True)


def test_blot_of_the_median_window_equals_the_blot_of_the_whole_grid(tmp_path):
    """Equal to the interpolation's float32 pixel positions (a unit-noise median, the roughest there
    is, differs by at most 1e-3 where a wrong offset would give differences of order 1)."""
    scene, truth, models, crs = _aligned("F200W")
    grid = make_grid([(m.meta.wcs, m.data.shape) for m in models])
    rng = np.random.default_rng(3)
    median = rng.normal(size=grid.shape).astype(np.float32)
    count = rng.integers(0, 4, grid.shape).astype(np.uint8)
    outlier_files.write_median(tmp_path / "median.fits", median, count)
    for m in models:
        pixmap = pixel_map(m.meta.wcs, grid.wcs, m.data.shape)
        rows, columns = outliers.blot_window(pixmap, grid.shape)
        assert (rows.stop - rows.start) * (columns.stop - columns.start) < 0.9 * median.size
        window = outlier_files.read_median(tmp_path / "median.fits", (rows, columns))
        blotted, coverage = outliers.blot(*window, pixmap - [columns.start, rows.start])
        whole, whole_coverage = outliers.blot(median, count, pixmap)
        np.testing.assert_allclose(blotted, whole, rtol=0, atol=1e-3)
        np.testing.assert_array_equal(coverage, whole_coverage)


def test_two_exposures_flag_the_cosmic_ray_not_its_partner(tmp_path):
    """Where two exposures overlap the lower value is the reference, so a cosmic ray is flagged in
    its own exposure and the other exposure stays clean."""
    scene, truth, models, crs = _aligned("F200W", size=512, n_exposures=2, dither_spread=0.05)
    masks, coverages, _ = _detect(models, truth, tmp_path)
    for k in range(2):
        cr = crs[k]
        y, x = np.asarray(cr["y"]), np.asarray(cr["x"])
        strong = (np.asarray(cr["snr"]) > 20) & (coverages[k][y, x] == 2) & ((models[k].dq[y, x] & 1) == 0)
        assert strong.sum() > 10 and masks[k][y, x][strong].mean() > 0.95
    # The partner exposure is not flagged where the cosmic ray is (that would be 50 % false flags).
    assert _false_fraction(models, crs, masks) <= 0.01


def test_laplacian_statistics_at_pixels_equal_the_full_image_filters():
    """L.A.Cosmic's statistics, computed only at chosen pixels, are those of the 2x-subsampled
    Laplacian and the median filters over the whole image (away from the edges)."""
    rng = np.random.default_rng(1)
    image = rng.normal(size=(40, 50))
    image[10, 10] += 30.0
    noise = np.ones_like(image)
    sub = np.repeat(np.repeat(image, 2, axis=0), 2, axis=1)
    kernel = np.array([[0.0, -1.0, 0.0], [-1.0, 4.0, -1.0], [0.0, -1.0, 0.0]])
    lap = (
        np.clip(ndimage.convolve(sub, kernel, mode="nearest"), 0.0, None)
        .reshape(40, 2, 50, 2)
        .mean(axis=(1, 3))
    )
    significance = outliers.laplacian_significance(image, noise)
    np.testing.assert_allclose(significance, lap / 2.0, atol=1e-12)
    iy, ix = (a.ravel() for a in np.mgrid[4:36, 4:46])
    sig, fine, stickout = outliers.laplacian_statistics(image, noise, significance, iy, ix)
    m3 = ndimage.median_filter(image, size=3)
    np.testing.assert_allclose(sig, (significance - ndimage.median_filter(significance, size=5))[iy, ix])
    np.testing.assert_allclose(fine, np.clip(m3 - ndimage.median_filter(m3, size=7), 0.01, None)[iy, ix])
    np.testing.assert_allclose(stickout, (image - m3)[iy, ix])


def test_bad_pixels_are_not_cosmic_rays():
    """Where one exposure covers the sky, a hot pixel (DO_NOT_USE) is not flagged and neither are
    its neighbours; a cosmic ray next to it is."""
    rng = np.random.default_rng(2)
    err = np.full((64, 64), 0.1)
    data = rng.normal(0.0, 0.1, (64, 64))
    data[20, 20] += 50.0  # hot pixel
    data[21, 21] += 20.0  # cosmic ray
    data[40, 40] += 50.0  # cosmic ray
    usable = np.ones(data.shape, bool)
    usable[20, 20] = False
    coverage = np.ones(data.shape, np.uint8)
    settings = FlagSettings()
    mask, _ = outliers.flag_outliers(data, err, np.zeros_like(data), coverage, 0.0, settings, usable)
    assert mask[40, 40] and mask[21, 21]
    assert not mask[18:21, 18:23].any() and not mask[18:23, 18:21].any()


def test_bad_thresholds_are_named():
    with pytest.raises(InputError, match="outlier_detection.snr"):
        FlagSettings(snr="5")


@pytest.mark.parametrize("kernel", ["square", "lanczos3"])
def test_single_is_the_full_grid_drizzle_cut_to_its_footprint(kernel):
    """A single image covers only the part of the grid its exposure reaches (the widest kernel's
    reach included), and there equals the drizzle onto the whole grid, bit for bit."""
    from drizzle.resample import Drizzle

    scene, truth, models, crs = _aligned("F200W", size=256, n_exposures=3, dither_spread=0.6)
    grid = make_grid([(m.meta.wcs, m.data.shape) for m in models])
    settings = DrizzleSettings(fillval="NaN", good_bits="~DO_NOT_USE", kernel=kernel)
    exposure = Exposure.from_model(models[1])
    single = outliers.single_image(exposure, grid, settings, 0.0311)
    assert single.grid_shape == grid.shape and single.wht.size < 0.8 * np.prod(grid.shape)
    driz = Drizzle(kernel=kernel, fillval="NaN", out_shape=grid.shape, disable_ctx=True)
    driz.add_image(
        data=np.nan_to_num(exposure.data - exposure.sky).astype(np.float32),
        exptime=exposure.exptime,
        pixmap=pixel_map(exposure.wcs, grid.wcs, exposure.data.shape, settings.pixmap_step),
        weight_map=weight_map(exposure, settings),
        pixfrac=settings.pixfrac,
        pixel_scale_ratio=grid.pixel_scale / 0.0311,
        in_units="cps",
    )
    (x0, y0), (h, w) = single.origin, single.wht.shape
    inside = np.zeros(grid.shape, bool)
    inside[y0 : y0 + h, x0 : x0 + w] = True
    assert not driz.out_wht[~inside].any()
    np.testing.assert_array_equal(driz.out_wht[inside].reshape(h, w), single.wht)
    np.testing.assert_array_equal(driz.out_img[inside].reshape(h, w), single.sci)


@pytest.mark.parametrize("filter_name", ["F090W", "F200W"])
def test_catalog_keeps_no_cosmic_ray_at_single_coverage(filter_name, tmp_path):
    """A strip of three 1024² exposures, each overlapping the next by half (1.08 x 1024² of sky that
    one exposure covers, the rest two), flagged, drizzled (flags as DQ DO_NOT_USE) and catalogued:
    at most 1 entry per 1024² of single-coverage sky with no true source within 0.15 arcsec, and
    no such entry within 2 pixels of a cosmic ray.

    Counted everywhere, the data's edge included (sources centred beyond it are dropped, see
    test_source_catalog). Measured: 0 such entries in F090W and in F200W."""
    from astropy.coordinates import SkyCoord

    from image3.io.product_meta import SipSettings
    from image3.resample.i2d import build_i2d
    from image3.resample.settings import DrizzleSettings as Drizzle
    from image3.source_catalog.catalog import BandImage, single_band_catalog
    from image3.source_catalog.settings import CatalogSettings

    sim = simdata.settings(
        filter=filter_name,
        shape=[1024, 1024],
        n_exposures=3,
        mosaic=[3, 1],
        mosaic_overlap=0.5,
        cosmic_ray_rate=CR_RATE,
    )
    scene, truth, models, crs = simdata.simulate(sim)
    _with_true_wcs_and_sky(models, truth)
    masks, _, grid = _detect(models, truth, tmp_path)
    for m, mask in zip(models, masks, strict=True):
        m.dq = m.dq | np.where(mask, np.uint32(1 | 16), np.uint32(0))
    arrays, grid = simdata.drizzle(models, grid=grid)
    exptime = sum(m.meta.exposure.exposure_time for m in models)
    i2d = build_i2d(arrays, grid, models[0], Drizzle(), len(models), exptime, 0.0311, SipSettings())
    band = BandImage.from_model(i2d)
    table, _ = single_band_catalog(band, CatalogSettings())

    x = np.rint(np.asarray(table["xcentroid"].value)).astype(int).clip(0, grid.shape[1] - 1)
    y = np.rint(np.asarray(table["ycentroid"].value)).astype(int).clip(0, grid.shape[0] - 1)
    single = band.coverage_at(x, y) == 1
    _, sep, _ = table["sky_centroid"].match_to_catalog_sky(SkyCoord(scene["ra"], scene["dec"], unit="deg"))
    spurious = single & (sep.arcsec > 0.15)
    ny, nx = grid.shape
    area = np.sum(band.coverage_at(*np.meshgrid(np.arange(nx), np.arange(ny))) == 1) / 1024**2
    assert area > 1.0, area
    shown = table[spurious]["label", "xcentroid", "ycentroid"]
    assert spurious.sum() <= area, (area, shown)
    # and none of them is a cosmic ray left in
    ra, dec = table["sky_centroid"].ra.deg[spurious], table["sky_centroid"].dec.deg[spurious]
    for m, cr in zip(models, crs, strict=True):
        px, py = m.meta.wcs.invert(ra, dec, with_bounding_box=False)
        d = np.hypot(px[:, None] - np.asarray(cr["x"])[None], py[:, None] - np.asarray(cr["y"])[None])
        assert not (d < 2).any(), shown[(d < 2).any(axis=1)]


# The real sky of issue #28: saturated stars with their spikes and halos, 1/f striping, a large
# galaxy, a gradient and a wisp; 4 exposures of 512², in one visit or two 4 degrees apart in roll.
ARTEFACTS = ["saturated_stars", "diffraction_spikes", "one_over_f", "large_galaxy", "gradient", "wisp"]


@functools.cache
def _artefact_field(visits):
    """(truth, models with their true WCS and sky, cosmic rays, artefacts' truth) of 4 exposures
    in ``visits`` visits 4 degrees apart in roll (2 + 2 for two)."""
    sim = simdata.settings(
        shape=[512, 512],
        n_exposures=4,
        visits=visits,
        visit_roll_step_deg=4.0 if visits > 1 else 0.0,
        artefacts=ARTEFACTS,
    )
    scene, truth, models, crs, arts = simdata.simulate_with_artefacts(sim)
    _with_true_wcs_and_sky(models, truth)
    return truth, models, crs, arts


def _near(shape, y, x, grow=1):
    """Pixels within ``grow`` pixels (3x3 steps) of pixels (y, x)."""
    out = np.zeros(shape, bool)
    out[y, x] = True
    return ndimage.binary_dilation(out, iterations=grow) if grow else out


def _spike_pixels(model, cr, art, snr=3.0, core=3):
    """The truth's spike and wing pixels: where the stars' wings (spikes and halos, noise-free)
    exceed ``snr`` x ERR, but not within ``core`` pixels of a saturated pixel, nor within a pixel
    of a cosmic ray, nor unusable."""
    cores = ndimage.binary_dilation(art["saturated"], iterations=core)
    crs = _near(model.data.shape, cr["y"], cr["x"])
    return (art["wings"] > snr * model.err) & ~cores & ~crs & ((model.dq & 1) == 0)


def _flagged_spike_fraction(models, crs, arts, masks):
    spikes = [_spike_pixels(m, cr, art) for m, cr, art in zip(models, crs, arts, strict=True)]
    flagged = sum(int((s & mask).sum()) for s, mask in zip(spikes, masks, strict=True))
    return flagged / sum(int(s.sum()) for s in spikes)


def _recall_away_from_saturation(models, crs, arts, masks, coverages, distance=20):
    """Cosmic-ray pixels above S/N 10 where two or more exposures overlap, more than ``distance``
    pixels from any saturated pixel (spikes far out included): (fraction flagged, number)."""
    found = []
    for m, cr, art, mask, cov in zip(models, crs, arts, masks, coverages, strict=True):
        y, x = np.asarray(cr["y"]), np.asarray(cr["x"])
        away = ~_near(m.data.shape, *np.nonzero(art["saturated"]), grow=distance)[y, x]
        pick = away & (np.asarray(cr["snr"]) > 10) & (cov[y, x] >= 2) & ((m.dq[y, x] & 1) == 0)
        found.extend(mask[y, x][pick & ~np.asarray(cr["dq_flagged"])])
    return float(np.mean(found)), len(found)


def _false_flags(models, crs, masks):
    """Flagged pixels more than a pixel from any cosmic ray."""
    return sum(
        int((mask & ~_near(m.data.shape, cr["y"], cr["x"])).sum())
        for m, cr, mask in zip(models, crs, masks, strict=True)
    )


def test_spikes_and_wings_of_one_roll_are_not_flagged(tmp_path):
    """Four dithers of one roll: the spikes and halos are the same in every exposure, so the median
    holds them. At most 1 % of spike pixels (wings > 3 ERR, beyond 3 pixels of the saturated cores)
    flagged (measured 0.02 %; the official thresholds 0.07 % one-sided, 0.24 % two-sided: nothing
    to handle here, the test guards it). Cosmic rays above S/N 10 away from the saturated stars
    >= 99 % (100 % of 473). 1/f striping (row offsets of 0.5 x the pixel noise, differing between
    exposures) adds no false flags: flags more than a pixel from any cosmic ray with the stripes
    no more than 1.1 x without them (the truth's offsets taken off; measured 36 and 38). Nothing
    specific to the stripes: they stay far below the thresholds."""
    truth, models, crs, arts = _artefact_field(1)
    for name in ("striped", "unstriped"):
        (tmp_path / name).mkdir()
    masks, coverages, _ = _detect(models, truth, tmp_path / "striped")
    assert _flagged_spike_fraction(models, crs, arts, masks) <= 0.01
    recall, n = _recall_away_from_saturation(models, crs, arts, masks, coverages)
    assert n > 300 and recall >= 0.99, (recall, n)
    from image3.simulate.artefacts import amplifier_index

    saved = [m.data for m in models]
    try:
        for m, art in zip(models, arts, strict=True):
            m.data = m.data - art["one_over_f"][:, amplifier_index(m.data.shape, instrument="synthetic")]
        unstriped, _, _ = _detect(models, truth, tmp_path / "unstriped")
    finally:
        for m, data in zip(models, saved, strict=True):
            m.data = data
    striped, clean = _false_flags(models, crs, masks), _false_flags(models, crs, unstriped)
    assert striped <= 1.1 * clean, (striped, clean)


def test_spikes_of_two_rolls_are_not_flagged(tmp_path):
    """Two visits 4 degrees apart in roll, 2 + 2 exposures: far from the star the spikes of the two
    visits no longer overlap, the median (between the two visits' values) holds half of each, and
    the official rule takes the other half for cosmic rays. Here an excess that runs 16 pixels
    both ways along a spike line is the exposure's own spike and is not flagged: at most 1 % of
    spike pixels flagged (measured 0.18 %; 3.6 % without the spike test, 4.1 % with the official
    thresholds; 3 + 3 exposures, before the comparison across the lines: 0.05 %, 1.5 %, 1.9 %);
    cosmic rays above S/N 10 away from the saturated stars >= 99 % (99.8 % of 469, as without the
    spike test), and over the whole field no fewer than without it (99.6 % of 475 both)."""
    truth, models, crs, arts = _artefact_field(2)
    for name in ("spikes", "without"):
        (tmp_path / name).mkdir()
    masks, coverages, _ = _detect(models, truth, tmp_path / "spikes")
    assert _flagged_spike_fraction(models, crs, arts, masks) <= 0.01
    recall, n = _recall_away_from_saturation(models, crs, arts, masks, coverages)
    assert n > 300 and recall >= 0.99, (recall, n)
    without, _, _ = _detect(models, truth, tmp_path / "without", FlagSettings(spike_reach=0))
    assert _flagged_spike_fraction(models, crs, arts, without) > 0.02
    everywhere = functools.partial(_recall_away_from_saturation, models, crs, arts, distance=0)
    assert everywhere(masks, coverages)[0] >= everywhere(without, coverages)[0]


def test_spike_directions_are_the_v2v3_frames():
    """The spike lines found from an exposure's sampled WCS and ROLL_REF are those of its
    detector -> V2/V3 transform (0, 60, 120 and 90 degrees from V3) within 0.1 degree (ROLL_REF
    is the nominal roll, off by the pointing's roll error of at most 0.05 degree), in both visits."""
    _, models, _, _ = _artefact_field(2)
    for m in models:
        to_v2v3 = m.meta.wcs.get_transform("detector", "v2v3")
        x0, y0 = (n / 2 for n in m.data.shape[::-1])
        v2, v3 = to_v2v3(np.array([x0, x0 + 1, x0]), np.array([y0, y0, y0 + 1]))
        jacobian = np.array([[v2[1] - v2[0], v2[2] - v2[0]], [v3[1] - v3[0], v3[2] - v3[0]]])
        angles = np.deg2rad([0.0, 60.0, 120.0, 90.0])
        expected = np.linalg.solve(jacobian, np.stack([np.sin(angles), np.cos(angles)])).T

        def angle(v):
            return np.rad2deg(np.arctan2(v[:, 1], v[:, 0])) % 180.0

        difference = (angle(_spikes(m)) - angle(expected) + 90.0) % 180.0 - 90.0
        assert np.abs(difference).max() < 0.1, difference


def test_along_lines_keeps_a_spike_and_drops_a_cosmic_ray():
    """Along a line through pixels: a long faint ridge at 30 degrees (a spike) keeps its level at
    every sub-pixel offset across it; a 10-pixel track along the same direction (a cosmic ray) and
    a lone pixel drop to the sky's."""
    rng = np.random.default_rng(5)
    ny, nx = 120, 120
    y, x = np.mgrid[:ny, :nx].astype(float)
    u = np.array([np.cos(np.deg2rad(30.0)), np.sin(np.deg2rad(30.0))])
    across = (x - 30.0) * u[1] - (y - 30.0) * u[0]
    spike = 10.0 * np.exp(-0.5 * (across / 0.7) ** 2)
    image = spike + rng.normal(0.0, 0.1, (ny, nx))
    steps = np.arange(-5, 5)
    track_y = np.rint(90 + steps * u[1]).astype(int)
    track_x = np.rint(30 + steps * u[0]).astype(int)
    image[track_y, track_x] += 50.0
    image[100, 100] += 50.0
    directions = np.array([u, [0.0, 1.0]])
    on_ridge = np.nonzero(spike > 5.0)
    inside = (on_ridge[0] > 20) & (on_ridge[0] < 80) & (on_ridge[1] > 20) & (on_ridge[1] < 100)
    iy, ix = on_ridge[0][inside], on_ridge[1][inside]
    level = along_lines(image, iy, ix, directions, 16)
    np.testing.assert_allclose(level, spike[iy, ix], rtol=0.25, atol=0.3)
    level = along_lines(image, np.array([90, 100]), np.array([30, 100]), directions, 16)
    assert np.all(np.abs(level) < 0.3), level
