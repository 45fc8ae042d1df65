"""Moving targets: the simulator's mode, the moving-target WCS, and the workflow's products against
the truth (the target sharp and whole in the mosaic, static stars rejected, the crf in its frame)."""

import io
import json
import shutil

import asdf
import numpy as np
import pytest
import simdata
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS as FitsWCS
from stdatamodels.jwst import datamodels
from workflow_helpers import EXPOSURES, PRODUCT, SMALL, planned_jobs, snakemake, user_asn

from image3.assign_mtwcs.moving_target import (
    MOVING_FRAME,
    assign_moving_target,
    mean_target_position,
    moving_target_wcs_set,
)
from image3.resample.drizzle import coverage_count
from image3.resample.grid import Grid
from image3.wcs.tangent_plane import tan_wcs

APERTURE_ARCSEC = 0.5


def test_moving_frame_puts_every_target_position_on_the_mean():
    """Each exposure's target pixel maps to the mean position in the new frame; the inverse and an
    ASDF round trip work; the mean of RA is taken across 0/360, not through 180."""
    positions = {"a": (359.9990, 1.0002), "b": (0.0004, 1.0000), "c": (0.0016, 0.9998)}
    wcs_set = {
        name: tan_wcs((ra + 0.0002, dec), (50.0, 50.0), 0.03, 20.0, (100, 100))
        for name, (ra, dec) in positions.items()
    }
    moved, (avra, avdec) = moving_target_wcs_set(wcs_set, positions)
    assert avra == pytest.approx(0.001 / 3, abs=1e-7)  # (-0.0010 + 0.0004 + 0.0016) / 3, not 240
    assert avdec == pytest.approx(1.0, abs=1e-6)
    for name, (ra, dec) in positions.items():
        assert moved[name].output_frame.name == MOVING_FRAME
        assert moved[name].available_frames[-2] == "world"
        x, y = wcs_set[name].invert(ra, dec)
        mra, mdec = moved[name](x, y)
        assert abs(((mra - avra + 180) % 360 - 180) * 3.6e6) < 0.01 and abs((mdec - avdec) * 3.6e6) < 0.01
        xb, yb = moved[name].invert(mra, mdec)
        assert abs(xb - x) < 1e-6 and abs(yb - y) < 1e-6
    asdf.AsdfFile({"wcs": moved}).write_to(io.BytesIO())
    assert mean_target_position([(10.0, -89.99), (190.0, -89.99)])[1] == pytest.approx(-90.0, abs=1e-9)


def test_a_file_without_target_position_skips_the_step_for_the_product(caplog):
    """As the official step: one exposure without MT_RA/MT_DEC leaves every WCS as it was, the
    products record assign_mtwcs SKIPPED, and the warning names the file; with every position the
    frames and the mean as moving_target_wcs_set's."""
    positions = {"a": (10.0, 1.0), "b": (10.0002, 1.0001)}
    wcs_set = {n: tan_wcs(p, (50.0, 50.0), 0.03, 0.0, (100, 100)) for n, p in positions.items()}
    files = {"a": "a_cal.fits", "b": "b_cal.fits"}
    moved, extras = assign_moving_target(wcs_set, positions, files)
    assert [w.output_frame.name for w in moved.values()] == [MOVING_FRAME] * 2
    assert (extras["mt_avra"], extras["mt_avdec"]) == pytest.approx((10.0001, 1.00005), abs=1e-9)
    with caplog.at_level("WARNING", logger="image3"):
        kept, extras = assign_moving_target(wcs_set, {**positions, "b": None}, files)
    assert kept is wcs_set and extras == {"cal_step": {"assign_mtwcs": "SKIPPED"}}
    assert "assign_mtwcs skipped: no MT_RA/MT_DEC (meta.wcsinfo.mt_ra/mt_dec) in b_cal.fits" in caplog.text


def test_simulator_moving_target_truth():
    """MOVING files carry the true target position at mid-exposure; the target is where that puts
    it (peak within a pixel), moving rate x interval between exposures; static stars stay put."""
    sim = simdata.settings(shape=[192, 192], n_exposures=2, moving_target=True, cosmic_ray_rate=0.0)
    _, truth, models, _ = simdata.simulate(sim)
    step = []
    for model, entry in zip(models, truth, strict=True):
        assert model.meta.target.type == "MOVING"
        target = entry["target"]
        assert (model.meta.wcsinfo.mt_ra, model.meta.wcsinfo.mt_dec) == (target["ra"], target["dec"])
        assert model.meta.exposure.mid_time == pytest.approx(entry["start_time"] + sim["exptime"] / 2 / 86400)
        x, y = simdata.true_wcs(entry, model.data.shape).invert(target["ra"], target["dec"])
        ix, iy = int(round(x)), int(round(y))
        cut = model.data[iy - 3 : iy + 4, ix - 3 : ix + 4]
        py, px = np.unravel_index(np.argmax(cut), cut.shape)
        assert abs(px - 3) <= 1 and abs(py - 3) <= 1
        step.append((target["ra"], target["dec"]))
    (ra0, dec0), (ra1, dec1) = step
    moved = np.hypot((ra1 - ra0) * np.cos(np.deg2rad(dec0)), dec1 - dec0) * 3600
    expected = sim["target_rate_arcsec_per_hour"] * sim["exposure_interval_s"] / 3600
    assert moved == pytest.approx(expected, rel=1e-3)


def _truth(workdir):
    entries = json.loads((workdir / "demo" / "truth" / "exposures.json").read_text())["exposures"]
    return entries, Table.read(workdir / "demo" / "truth" / "scene.ecsv")


def _open(workdir, name):
    return datamodels.open(workdir / "results" / PRODUCT / name)


def _mosaic(workdir):
    with _open(workdir, f"{PRODUCT}_i2d.fits") as i2d:
        scale = float(np.sqrt(i2d.meta.photometry.pixelarea_arcsecsq))
        return i2d.data.copy(), Grid(i2d.meta.wcs, i2d.data.shape, scale), coverage_count(i2d.con)


def _target_predictions(workdir, truth, grid):
    """Where the aligned exposures put the target: each crf WCS at the target's true pixel. Returns
    the mean over exposures in mosaic pixels, each position's offset from that mean (mas, east and
    north) and each position in mosaic pixels."""
    sky = []
    for entry in truth:
        with _open(workdir, f"{entry['name']}_o001_crf.fits") as crf:
            x, y = simdata.true_wcs(entry, crf.data.shape).invert(
                entry["target"]["ra"], entry["target"]["dec"]
            )
            sky.append(crf.meta.wcs(x, y))
    sky = np.array(sky)
    spread = (sky - sky.mean(axis=0)) * [np.cos(np.deg2rad(sky[0, 1])), 1.0] * 3.6e6
    each = np.column_stack(grid.wcs.invert(*sky.T))
    return np.array(grid.wcs.invert(*sky.mean(axis=0))), spread, each


@pytest.mark.workflow
def test_target_keeps_its_flux_shape_and_position(moving_demo, demo):
    """Flux within 3 % in a 0.5 arcsec aperture; FWHM within 10 % of static stars' in the fixed-target
    demo (same exposures and drizzle); centroid within 5 mas of where the aligned exposures put it."""
    truth, _ = _truth(moving_demo)
    image, grid, _ = _mosaic(moving_demo)
    predicted, spread, _ = _target_predictions(moving_demo, truth, grid)
    assert np.abs(spread).max() < 20, spread  # the exposures agree (0.1-0.5 arcsec errors as simulated)
    centre = simdata.windowed_centroids(image, [predicted[0]], [predicted[1]])[0]
    offset_mas = np.hypot(*(centre - predicted)) * grid.pixel_scale * 1000
    flux = simdata.aperture_flux(image, [centre[0]], [centre[1]], APERTURE_ARCSEC / grid.pixel_scale)[0]
    true_flux = simdata.truth_flux_in_mosaic(
        Table([[truth[0]["target"]["flux_jy"]]], names=["flux_jy"]), grid
    )[0]
    fwhm = simdata.gaussian_fwhm(image, *centre)

    fixed_truth, scene = _truth(demo)
    fixed_image, fixed_grid, _ = _mosaic(demo)
    # Static stars where the fixed demo's aligned mosaic puts them (the first exposure's frame).
    with _open(demo, f"{fixed_truth[0]['name']}_o001_crf.fits") as crf:
        x, y = simdata.true_wcs(fixed_truth[0], crf.data.shape).invert(
            np.asarray(scene["ra"]), np.asarray(scene["dec"])
        )
        aligned = scene.copy()
        aligned["ra"], aligned["dec"] = crf.meta.wcs(x, y, with_bounding_box=False)
    _, xs, ys = simdata.isolated_stars(aligned, fixed_grid, 8, (18.0, 22.0))
    assert len(xs) >= 8
    stars = simdata.windowed_centroids(fixed_image, xs, ys)
    star_fwhm = np.median([simdata.gaussian_fwhm(fixed_image, *c) for c in stars])
    print(
        f"target: flux {flux / true_flux:.4f} of truth, FWHM {fwhm:.3f} px (stars {star_fwhm:.3f}), "
        f"offset {offset_mas:.2f} mas"
    )
    assert abs(flux / true_flux - 1) < 0.03
    assert abs(fwhm / star_fwhm - 1) < 0.10
    assert offset_mas < 5.0


@pytest.mark.workflow
def test_static_stars_are_rejected_where_three_or_more_exposures_overlap(moving_demo):
    """Every static star of every exposure, where it lands in the target's frame (4 dots per star):
    where 3 or more exposures cover that spot, the median flux left there (0.5 arcsec aperture)
    is under 2 % of the star's; without flagging each dot would keep about a quarter."""
    truth, scene = _truth(moving_demo)
    image, grid, coverage = _mosaic(moving_demo)
    target, _, _ = _target_predictions(moving_demo, truth, grid)
    radius = APERTURE_ARCSEC / grid.pixel_scale
    stars = scene[scene["type"] == "star"]
    left, mags = [], []
    for entry in truth:
        with _open(moving_demo, f"{entry['name']}_o001_crf.fits") as crf:
            ny, nx = crf.data.shape
            x, y = simdata.true_wcs(entry, crf.data.shape).invert(
                np.asarray(stars["ra"]), np.asarray(stars["dec"])
            )
            inside = (x > 10) & (x < nx - 10) & (y > 10) & (y < ny - 10)
            mx, my = grid.wcs.invert(*crf.meta.wcs(x[inside], y[inside]))
        margin = radius + 12
        keep = (mx > margin) & (mx < grid.shape[1] - margin) & (my > margin) & (my < grid.shape[0] - margin)
        keep &= np.hypot(mx - target[0], my - target[1]) > 2 * margin
        mx, my, rows = mx[keep], my[keep], stars[inside][keep]
        covered = coverage[np.rint(my).astype(int), np.rint(mx).astype(int)] >= 3
        flux = simdata.aperture_flux(image, mx[covered], my[covered], radius)
        left += list(flux / simdata.truth_flux_in_mosaic(rows[covered], grid))
        mags += list(rows["mag_ab"][covered])
    left, mags = np.array(left), np.array(mags)
    assert len(left) >= 40
    print(f"{len(left)} star dots: median left {np.median(left):.4f}; AB<23 {np.median(left[mags < 23]):.4f}")
    assert np.median(left) < 0.02


@pytest.mark.workflow
def test_crf_carry_the_moving_target_wcs(moving_demo):
    """The crf open with stdatamodels in the target's frame, record mt_avra/mt_avdec (the mean
    direction of the true positions) and S_MTWCS, and their SIP header follows that frame."""
    truth, _ = _truth(moving_demo)
    avra, avdec = mean_target_position([(e["target"]["ra"], e["target"]["dec"]) for e in truth])
    for entry in truth:
        path = moving_demo / "results" / PRODUCT / f"{entry['name']}_o001_crf.fits"
        with datamodels.open(path) as crf:
            assert crf.meta.wcs.output_frame.name == MOVING_FRAME
            assert crf.meta.cal_step.assign_mtwcs == "COMPLETE" and crf.meta.cal_step.tweakreg == "COMPLETE"
            assert crf.meta.wcsinfo.mt_avra == pytest.approx(avra, abs=1e-10)
            assert crf.meta.wcsinfo.mt_avdec == pytest.approx(avdec, abs=1e-10)
            assert crf.meta.wcsinfo.mt_ra == entry["target"]["ra"]
            ny, nx = SMALL["simulate"]["shape"]
            y, x = np.mgrid[0:ny:32, 0:nx:32].astype(float)
            sky = crf.meta.wcs(x, y)
        xf, yf = FitsWCS(fits.getheader(path, "SCI")).all_world2pix(*sky, 0)
        assert np.hypot(xf - x, yf - y).max() < 0.02


@pytest.mark.workflow
def test_single_exposure_i2d_on_the_product_grid(moving_demo):
    """Each exposure alone, after outlier flagging, on the product's grid: the target in each sits
    where that exposure's aligned WCS puts it (within 5 mas) with the mosaic's flux (within 5 %:
    one exposure's noise and sampling)."""
    truth, _ = _truth(moving_demo)
    image, grid, _ = _mosaic(moving_demo)
    mean, _, each = _target_predictions(moving_demo, truth, grid)
    centre = simdata.windowed_centroids(image, [mean[0]], [mean[1]])[0]
    radius = APERTURE_ARCSEC / grid.pixel_scale
    mosaic_flux = simdata.aperture_flux(image, [centre[0]], [centre[1]], radius)[0]
    for entry, predicted in zip(truth, each, strict=True):
        with _open(moving_demo, f"{entry['name']}_o001_i2d.fits") as single:
            assert single.data.shape == grid.shape and single.meta.resample.pointings == 1
            data = single.data.copy()
        c = simdata.windowed_centroids(data, [predicted[0]], [predicted[1]])[0]
        assert np.hypot(*(c - predicted)) * grid.pixel_scale * 1000 < 5.0
        assert simdata.aperture_flux(data, [c[0]], [c[1]], radius)[0] == pytest.approx(mosaic_flux, rel=0.05)


@pytest.mark.workflow
def test_user_association_target_type_decides_the_dag(moving_demo, demo, tmp_path):
    """Read from the members' headers when the workflow loads: moving members get assign_mtwcs;
    a product mixing moving and fixed members is refused with a message naming them (its job
    refuse_product fails)."""
    data = tmp_path / "data"
    data.mkdir()
    moving = [f"moving{k}_nrca1_cal.fits" for k in range(2)]
    for name, src in zip(moving, EXPOSURES[:2], strict=True):
        shutil.copy(moving_demo / "demo" / f"{src}_cal.fits", data / name)
    shutil.copy(demo / "demo" / f"{EXPOSURES[0]}_cal.fits", data / "fixed_nrca1_cal.fits")
    user_asn(data / "m_asn.json", {"m": moving})
    assert planned_jobs(tmp_path, {"asn": str(data / "m_asn.json")})["assign_mtwcs"] == 1
    user_asn(data / "x_asn.json", {"x": [*moving, "fixed_nrca1_cal.fits"]})
    result = snakemake(tmp_path, config={"asn": str(data / "x_asn.json")}, check=False)
    assert result.returncode != 0
    assert "mix moving and fixed" in result.stderr + result.stdout
    assert "fixed_nrca1_cal.fits: FIXED" in result.stderr + result.stdout


@pytest.mark.workflow
def test_member_without_target_position_is_combined_in_the_sky_frame(moving_demo, tmp_path):
    """A moving-target member whose SCI header lacks MT_RA: the run goes on (no traceback), the
    assign_mtwcs log warns naming the file, and every _crf keeps its aligned sky WCS and records
    S_MTWCS SKIPPED (the official step's behaviour)."""
    data = tmp_path / "data"
    data.mkdir()
    names = [f"{e}_cal.fits" for e in EXPOSURES]
    for name in names:
        shutil.copy(moving_demo / "demo" / name, data / name)
    with fits.open(data / names[1], mode="update") as hdul:
        del hdul["SCI"].header["MT_RA"]
    user_asn(data / "m_asn.json", {"m": names})
    crfs = [f"results/m/{e}_o009_crf.fits" for e in EXPOSURES]
    snakemake(tmp_path, *crfs, config={**SMALL, "asn": str(data / "m_asn.json")})
    log = (tmp_path / "results/logs/m/assign_mtwcs.log").read_text()
    assert f"assign_mtwcs skipped: no MT_RA/MT_DEC (meta.wcsinfo.mt_ra/mt_dec) in {data / names[1]}" in log
    for crf in crfs:
        with datamodels.open(tmp_path / crf) as model:
            assert model.meta.cal_step.assign_mtwcs == "SKIPPED"
            assert model.meta.wcs.output_frame.name != MOVING_FRAME and model.meta.wcsinfo.mt_avra is None
