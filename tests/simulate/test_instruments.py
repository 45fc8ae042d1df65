"""Real instruments against the simulator's truth: NIRCam's several detectors per exposure (short and
long wavelength) and the MIRI imager, on their SIAF geometry (pysiaf).

In memory through the library, like tests/tweakreg/test_tweakreg.py. NIRCam short wavelength: 2 dithers x
the four full-frame 2048² detectors of module A (a sparse scene, for CI time); long wavelength cut
down to 512² of each detector's inner corner (the SIAF geometry of those pixels, the real gap
between the modules); MIRI the full 1032 x 1024 frame.
"""

import functools
import itertools
import json
from pathlib import Path

import numpy as np
import pytest
import simdata
import yaml
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.table import Table
from stdatamodels.jwst import datamodels
from workflow_helpers import PRODUCT, snakemake

from image3.errors import InputError
from image3.io.dq import DQ_FLAGS, good_pixels
from image3.io.exposure_groups import exposure_group
from image3.io.fits_read import read_lean
from image3.outlier_detection import files as outlier_files
from image3.outlier_detection import outliers
from image3.outlier_detection.settings import FlagSettings
from image3.resample.drizzle import Exposure
from image3.resample.grid import make_grid
from image3.resample.settings import DrizzleSettings
from image3.simulate.demo import check_settings, exposure_names
from image3.simulate.instruments import detector_geometry
from image3.simulate.psf import PixelIntegratedPSF
from image3.skymatch.cells import exposure_cells, sky_grid
from image3.skymatch.levels import compute_sky
from image3.skymatch.settings import SkySettings
from image3.skymatch.store import read_sky_entry
from image3.source_catalog.aperture_reference import read_apcorr
from image3.tweakreg import alignment
from image3.tweakreg.settings import DetectionSettings, FitSettings
from image3.tweakreg.source_finding import find_sources_sparse
from image3.utils.psf_width import detection_fwhm
from image3.wcs.pixmap import pixel_map

REPO = Path(__file__).resolve().parents[2]
SKY_TOLERANCE = 0.0005  # MJy/sr, per detector
GOOD = "~DO_NOT_USE+NON_SCIENCE"  # the steps' default good DQ bits
DTYPE_MIRI_APCORR = ("filter", "subarray", "eefraction", "radius", "apcorr", "skyin", "skyout")
MODULE_A = ["NRCA1", "NRCA2", "NRCA3", "NRCA4"]
_COSMIC_RAYS = {}  # mode -> the cosmic-ray truth tables of _dataset(mode)


def _demo_settings(name, **overrides):
    """The simulate settings of config/demo_<name>.yaml over the defaults, with ``overrides``."""
    demo = yaml.safe_load((REPO / "config" / f"demo_{name}.yaml").read_text())["simulate"]
    return simdata.settings(**{**demo, **overrides})


@functools.cache
def _dataset(mode):
    """(settings, scene, truth, models) of one of the set-ups (cosmic rays: see _cosmic_rays)."""
    sim = {
        "lw": lambda: _demo_settings("nircam_lw", shape=[512, 512], galaxy_density=50),
        "sw": lambda: simdata.settings(
            detectors=MODULE_A,
            n_exposures=2,
            shape=[2048, 2048],
            dither_spread=0.5,
            star_density=300,
            galaxy_density=30,
        ),
        "miri": lambda: _demo_settings("miri"),
        # 11-18 sources per exposure, as the MIRI subarrays' fields
        "miri_sparse": lambda: _demo_settings("miri", star_density=2, galaxy_density=5),
    }[mode]()
    scene, truth, models, crs = simdata.simulate(sim)
    _COSMIC_RAYS[mode] = crs
    return sim, scene, truth, models


def _catalogs(models, group_exposures=True, minobj=15, starfinder="auto"):
    """ExposureCatalogs with the workflow's default detection (the PSF's width, deeper in a sparse
    field; ``starfinder``) and exposure groups."""
    settings = DetectionSettings(starfinder=starfinder)
    out = []
    for m in models:
        scale = np.sqrt(m.meta.photometry.pixelarea_arcsecsq)
        fwhm = detection_fwhm(m.meta.instrument.filter, scale)
        catalog = find_sources_sparse(m.data, m.dq, fwhm, settings, minobj=minobj, sparse_snr_threshold=5.0)
        info = m.meta.wcsinfo
        out.append(
            alignment.ExposureCatalog(
                m.meta.filename,
                exposure_group(m.meta, m.meta.filename, group_exposures=group_exposures),
                m.meta.wcs,
                {"v2_ref": info.v2_ref, "v3_ref": info.v3_ref, "roll_ref": info.roll_ref},
                catalog,
                m.data.shape,
            )
        )
    return out


@functools.cache
def _aligned(mode, group_exposures=True, global_fit=True, starfinder="auto"):
    """The dataset's exposures aligned with the default settings (but ``starfinder``)."""
    _, _, _, models = _dataset(mode)
    exposures = _catalogs(models, group_exposures, starfinder=starfinder)
    alignment.align_relative(exposures, FitSettings(), global_fit=global_fit)
    return exposures


def _relative_rms(exposures, truth):
    return simdata.relative_alignment_rms([e.wcs for e in exposures], truth, exposures[0].shape)


def _detector_levels(mode, exposures):
    """Sky levels per file (skymatch global+match, one level per detector) and the true ones."""
    _, _, truth, models = _dataset(mode)
    settings = SkySettings(skymethod="global+match", group_exposures=False)
    grid = sky_grid([(e.wcs, e.shape) for e in exposures], settings.cell_size)
    cells = [
        exposure_cells(e.name, e.name, m.data, m.dq, e.wcs, grid, settings)
        for e, m in zip(exposures, models, strict=True)
    ]
    result = compute_sky(cells, settings)
    return np.array([result.levels[e.name] for e in exposures]), np.array([t["sky_level"] for t in truth])


def _centre_separations(exposures, groups=None):
    """Sky separations (mas) between the chip centres of every two detectors of each exposure
    (``groups``: each exposure's; None: their alignment groups)."""
    by_group = {}
    for e, group in zip(exposures, groups or [e.group for e in exposures], strict=True):
        cx, cy = (e.shape[1] - 1) / 2, (e.shape[0] - 1) / 2
        by_group.setdefault(group, []).append(SkyCoord(*e.wcs(cx, cy), unit="deg"))
    return np.array(
        [
            a.separation(b).to_value("mas")
            for cs in by_group.values()
            for a, b in itertools.combinations(cs, 2)
        ]
    )


def test_detectors_of_one_exposure_share_the_pointing():
    sim, _, truth, models = _dataset("sw")
    assert [t["detector"] for t in truth] == MODULE_A * 2
    groups = {exposure_group(m.meta, t["name"]) for m, t in zip(models, truth, strict=True)}
    assert groups == {"jw01234001001_03101_00001", "jw01234001001_03101_00002"}
    for k in (0, 4):  # one pointing error per exposure
        errors = {(t["error_east"], t["error_north"], t["error_roll"]) for t in truth[k : k + 4]}
        assert len(errors) == 1
    for m, t in zip(models, truth, strict=True):
        assert m.meta.instrument.detector == t["detector"] and m.meta.instrument.channel == "SHORT"
        assert m.meta.subarray.name == "FULL" and m.meta.subarray.xsize == 2048
        readout = m.meta.exposure  # as a level-2b file carries it: the groups span the exposure
        assert readout.readpatt == "RAPID" and readout.nints == 1
        gap = (readout.ngroups - 1) * readout.group_time - readout.exposure_time
        assert abs(gap) <= readout.frame_time / 2
    # the files' WCS are one attitude: the detectors' true and nominal WCS differ by one rigid motion
    before = _centre_separations(_catalogs(models))
    true = [simdata.true_wcs(t, None) for t in truth]
    cx = cy = (2048 - 1) / 2
    centres = [SkyCoord(*w(cx, cy), unit="deg") for w in true]
    true_sep = [
        a.separation(b).to_value("mas")
        for k in (0, 4)
        for a, b in itertools.combinations(centres[k : k + 4], 2)
    ]
    np.testing.assert_allclose(before, true_sep, atol=1e-3)


@pytest.mark.parametrize("global_fit", [True, False])
def test_nircam_sw_module_a_detectors_move_together(global_fit):
    sim, scene, truth, models = _dataset("sw")
    exposures = _aligned("sw", global_fit=global_fit)
    assert all(e.info["relative"]["status"] in alignment.ALIGNED for e in exposures)
    assert _relative_rms(exposures, truth) <= 1.0  # 0.06 mas measured (global fit)
    nominal = _centre_separations(_catalogs(models))
    assert np.abs(_centre_separations(exposures) - nominal).max() <= 0.1  # 1.4e-4 mas measured
    # each detector's sky level within 0.5 % of its sky noise (the median ERR of its good pixels,
    # 0.032 MJy/sr): 0.3 % at most measured
    levels, true = _detector_levels("sw", exposures)
    noise = np.array([np.median(m.err[good_pixels(m.dq, GOOD)]) for m in models])
    assert np.all(np.abs(levels - true) <= 0.005 * noise), (levels - true) / noise


def test_nircam_sw_detectors_aligned_one_by_one_on_request():
    """tweakreg.group_exposures false: every detector gets its own correction (the distances
    between the detectors of one exposure then move by their own fit errors)."""
    _, _, truth, models = _dataset("sw")
    exposures = _aligned("sw", group_exposures=False)
    assert len({e.group for e in exposures}) == len(exposures)
    groups = [exposure_group(m.meta, m.meta.filename) for m in models]
    moved = _centre_separations(exposures, groups) - _centre_separations(_catalogs(models))
    assert np.abs(moved).max() > 0.1


def test_nircam_sw_star_fluxes_across_detector_gaps():
    sim, scene, truth, models = _dataset("sw")
    exposures = _aligned("sw")
    models = [m.copy() for m in models]  # the cached dataset stays as simulated
    for m, e, t in zip(models, exposures, truth, strict=True):
        m.meta.wcs = e.wcs
        m.meta.background.level, m.meta.background.subtracted = t["sky_level"], False
    arrays, grid = simdata.drizzle(models)
    # the aligned exposures keep the reference's pointing error: put the scene where they put it
    px, py = simdata.true_wcs(truth[0], None).invert(scene["ra"], scene["dec"], with_bounding_box=False)
    seen = scene.copy()
    seen["ra"], seen["dec"] = exposures[0].wcs(px, py, with_bounding_box=False)
    radius = PixelIntegratedPSF(sim["filter"], 0.031).radius
    stars, x, y = simdata.isolated_stars(seen, grid, radius, (19.0, 22.0))
    ix, iy = np.round(x).astype(int), np.round(y).astype(int)
    wht = arrays["wht"]
    covered = np.array(
        [
            wht[j - radius : j + radius + 1, i - radius : i + radius + 1].min() > 0
            for i, j in zip(ix, iy, strict=True)
        ]
    )
    ratio = simdata.aperture_flux(arrays["data"], x, y, radius) / simdata.truth_flux_in_mosaic(stars, grid)
    # stars in a gap of the first exposure: only the second exposure's detectors saw them
    in_gap = np.ones(len(stars), bool)
    for e in exposures[:4]:
        sx, sy = e.wcs.invert(stars["ra"], stars["dec"], with_bounding_box=False)
        in_gap &= ~((sx > -0.5) & (sx < e.shape[1] - 0.5) & (sy > -0.5) & (sy < e.shape[0] - 0.5))
    assert covered.sum() >= 10 and (covered & in_gap).sum() >= 2
    assert abs(np.median(ratio[covered]) - 1) <= 0.01
    assert np.abs(np.median(ratio[covered & in_gap]) - 1) <= 0.01


def test_nircam_lw_alignment_and_sky_per_detector():
    sim, scene, truth, models = _dataset("lw")
    assert {m.meta.instrument.detector for m in models} == {"NRCALONG", "NRCBLONG"}
    assert np.sqrt(models[0].meta.photometry.pixelarea_arcsecsq) == pytest.approx(0.063, rel=0.02)
    exposures = _aligned("lw")
    assert all(e.info["relative"]["status"] in alignment.ALIGNED for e in exposures)
    assert _relative_rms(exposures, truth) <= 0.25  # 0.17 mas measured (cut down to 512²; starfind: 0.33)
    levels, true = _detector_levels("lw", exposures)
    assert np.abs(levels - true).max() <= SKY_TOLERANCE, levels - true


def test_miri_sparse_field_aligns_and_non_science_stays_out():
    sim, scene, truth, models = _dataset("miri")
    non_science = (models[0].dq & DQ_FLAGS["NON_SCIENCE"]) > 0
    assert (
        models[0].data.shape == (1024, 1032) and non_science[:, :300].all() and not non_science[:, 400:].any()
    )
    sky = truth[0]["sky_level"]
    assert np.median(models[0].data[non_science]) > 1.3 * sky  # brighter than the imager's sky
    exposures = _aligned("miri")
    assert all(e.info["relative"]["status"] in alignment.ALIGNED for e in exposures)
    rms = _relative_rms(exposures, truth)
    assert rms <= 1.5, rms  # 0.88 mas measured (DAOFind, starfinder auto); starfind: 2.6
    levels, true = _detector_levels("miri", exposures)
    assert np.abs(levels - true).max() <= SKY_TOLERANCE, levels - true
    # NON_SCIENCE pixels carry no weight: making them huge leaves the mosaic unchanged
    arrays, grid = simdata.drizzle(models)
    spoiled = [m.copy() for m in models]
    for m in spoiled:
        m.data[(m.dq & DQ_FLAGS["NON_SCIENCE"]) > 0] = 1e6
    spoiled_arrays, _ = simdata.drizzle(spoiled, grid)
    np.testing.assert_array_equal(arrays["data"], spoiled_arrays["data"])
    np.testing.assert_array_equal(arrays["wht"], spoiled_arrays["wht"])


def test_miri_very_sparse_field_aligns_deeper_and_with_fewer_parameters():
    """11-18 sources per exposure. With the defaults (DAOFind at MIRI's FWHM) 15-18 are found at
    S/N 10 and every exposure is fitted fully: 5.4 mas measured (starfind: 8.5). starfind keeps
    fewer (11-18): the sparse handling searches deeper at ``sparse_snr_threshold`` and fits the
    exposure with 5 matches for a shift alone."""
    sim, scene, truth, models = _dataset("miri_sparse")
    default = _aligned("miri_sparse")
    assert all(e.info["relative"]["status"] in alignment.ALIGNED for e in default)
    assert _relative_rms(default, truth) <= 7.0
    exposures = _aligned("miri_sparse", starfinder="iraf")
    thresholds = [e.catalog.meta["snr_threshold"] for e in exposures]
    assert 5.0 in thresholds  # searched deeper where too few sources were found
    assert all(e.info["relative"]["status"] in alignment.ALIGNED for e in exposures)
    report = alignment.report(exposures)
    assert "shift" in list(report["fitgeometry"])  # the group with few matches: a shift alone
    unaligned = simdata.relative_alignment_rms([e.original_wcs for e in exposures], truth, exposures[0].shape)
    rms = _relative_rms(exposures, truth)
    assert unaligned > 100.0 and rms <= 15.0, (unaligned, rms)


def test_settings_that_do_not_fit_the_instrument_are_named():
    with pytest.raises(InputError, match="simulate.filter = 'F150W' is not a miri filter"):
        check_settings(simdata.settings(instrument="miri"))
    with pytest.raises(InputError, match="simulate.detectors: NRCA1 not miri detector"):
        check_settings(simdata.settings(instrument="miri", filter="F770W", detectors=["NRCA1"]))
    with pytest.raises(InputError, match="simulate.detectors: 'NRCA1' is not a MIRI detector"):
        detector_geometry("miri", "NRCA1")
    with pytest.raises(InputError, match="simulate.shape"):
        detector_geometry("miri", "MIRIMAGE", (2048, 2048))


def test_miri_cosmic_rays_flagged_where_two_exposures_overlap(tmp_path):
    """Outlier detection on the MIRI frames (true WCS and sky, as tweakreg and skymatch give them):
    cosmic-ray pixels above S/N 10 where two or more exposures overlap are flagged, and nothing in
    NON_SCIENCE (the singles, median and flags leave it out)."""
    _, _, truth, models = _dataset("miri")
    crs = _COSMIC_RAYS["miri"]
    models = [m.copy() for m in models]
    for m, t in zip(models, truth, strict=True):
        m.meta.wcs = simdata.true_wcs(t, None)
        m.meta.background.level, m.meta.background.subtracted = t["sky_level"], False
    grid = make_grid([(m.meta.wcs, m.data.shape) for m in models])
    drizzle = DrizzleSettings(fillval="NaN", good_bits=GOOD)
    paths = []
    for k, m in enumerate(models):
        paths.append(tmp_path / f"single{k}.fits")
        outlier_files.write_single(
            paths[-1], outliers.single_image(Exposure.from_model(m), grid, drizzle, 0.11)
        )
    median, count = outlier_files.median_image(paths)
    found, in_non_science = [], 0
    for m, t, cr in zip(models, truth, crs, strict=True):
        blotted, coverage = outliers.blot(median, count, pixel_map(m.meta.wcs, grid.wcs, m.data.shape))
        usable = good_pixels(m.dq, GOOD)
        mask, _ = outliers.flag_outliers(
            m.data, m.err, blotted, coverage, t["sky_level"], FlagSettings(), usable
        )
        in_non_science += int((mask & ~usable).sum())
        y, x = np.asarray(cr["y"]), np.asarray(cr["x"])
        pick = (
            usable[y, x]
            & ~np.asarray(cr["dq_flagged"])
            & (coverage[y, x] >= 2)
            & (np.asarray(cr["snr"]) > 10)
        )
        found.extend(mask[y[pick], x[pick]])
    assert in_non_science == 0
    assert len(found) >= 300 and np.mean(found) >= 0.99, (len(found), np.mean(found))


@pytest.mark.workflow
def test_workflow_runs_two_detectors_per_exposure(tmp_path):
    """The workflow on 2 dithers x NRCA1 + NRCA3 (cut down to 384²): the groups come from the
    files' headers, one tweakreg correction per exposure, one sky level per detector on request."""
    simulate = {"detectors": ["NRCA1", "NRCA3"], "shape": [384, 384], "n_exposures": 2}
    config = {
        "simulate": {**simulate, "dither_spread": 0.5, "galaxy_density": 50},
        "skymatch": {"skymethod": "global+match", "group_exposures": False},
    }
    snakemake(tmp_path, config=config)
    names = exposure_names(2, ["NRCA1", "NRCA3"])
    product = tmp_path / "results" / PRODUCT
    report = Table.read(product / f"{PRODUCT}_tweakreg.ecsv")
    assert list(report["exposure"]) == names and report["aligned"].all()
    assert list(report["group"]) == [n.rsplit("_", 1)[0] for n in names]
    entries = json.loads((tmp_path / "demo" / "truth" / "exposures.json").read_text())["exposures"]
    truth = {e["name"]: e["sky_level"] for e in entries}
    sky = product / "work" / f"{PRODUCT}_sky.json"
    assert max(abs(read_sky_entry(sky, n)["level"] - truth[n]) for n in names) <= SKY_TOLERANCE
    assert all((product / f"{n}_o001_crf.fits").exists() for n in names)


def test_pixel_scale_from_the_file_else_the_detector(tmp_path):
    """Source finding's PSF width needs the pixel scale: PIXAR_A2, else the DETECTOR's nominal one."""
    _, _, _, models = _dataset("lw")
    path = tmp_path / "lw_cal.fits"
    models[1].save(path)
    assert read_lean(path, ()).pixel_scale == pytest.approx(0.063, rel=0.02)
    with fits.open(path, mode="update") as hdul:
        del hdul["SCI"].header["PIXAR_A2"]
    assert read_lean(path, ()).pixel_scale == 0.063
    assert detection_fwhm("F444W", None) == 2.5  # no scale at all: the official default kernel


def test_miri_apcorr_file_with_rows_per_subarray(tmp_path):
    """MIRI's APCORR files have a subarray column instead of the pupil: the FULL rows are used."""
    rows = [
        ("F770W", sub, ee, radius * scale, 1 / ee, 8.0, 12.0)
        for sub, scale in (("FULL", 1.0), ("BRIGHTSKY", 1.1))
        for ee, radius in ((0.3, 1.0), (0.5, 1.6), (0.7, 2.5))
    ]
    dtype = [(n, "S17" if n in ("filter", "subarray") else "f4") for n in DTYPE_MIRI_APCORR]
    model = datamodels.MirImgApcorrModel()
    model.apcorr_table = np.array(rows, dtype=dtype)
    model.save(tmp_path / "miri_apcorr.fits")
    apertures = read_apcorr(tmp_path / "miri_apcorr.fits", "F770W", "", (30, 50, 70), 1.0)
    assert apertures.radii == pytest.approx((1.0, 1.6, 2.5))


@pytest.mark.parametrize(
    ("filter_name", "pixel_scale", "fwhm_arcsec"),
    [("F444W", 0.063, 0.145), ("F560W", 0.11, 0.207), ("F770W", 0.11, 0.269), ("F2550W", 0.11, 0.803)],
)
def test_psf_width_per_instrument(filter_name, pixel_scale, fwhm_arcsec):
    """The simulated PSF's FWHM at the instrument's pixel scale against JDox's (within 20 %: an Airy
    pattern of the 6.5 m aperture, no telescope aberrations)."""
    psf = PixelIntegratedPSF(filter_name, pixel_scale)
    stamp = psf.stamp(0.0, 0.0)
    c = stamp.shape[0] // 2
    half = min(c, int(3 * fwhm_arcsec / pixel_scale) + 2)
    measured = simdata.gaussian_fwhm(stamp, c, c, half=half) * pixel_scale
    assert measured == pytest.approx(fwhm_arcsec, rel=0.2)
    assert detection_fwhm(filter_name, pixel_scale) * pixel_scale == pytest.approx(measured, rel=0.2)
