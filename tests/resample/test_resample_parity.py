"""resample parameters and products that behave as the official step's (#34), from the official
unit tests' scenarios: the WHT of drizzle's weight x overlap area, ``weight_type: exptime`` by
TMEASURE, variance arrays of an unexpected shape, ``pixel_scale`` winning over
``pixel_scale_ratio``, an ``output_wcs`` file's top-level shape, the recorded pixel scale ratio and
the ``_i2d`` header; and our ERR (variance drizzled with squared weights), a deliberate difference,
against the official recipe."""

import logging

import numpy as np
import pytest
import simdata
from astropy.io import fits
from astropy.wcs import WCS
from stdatamodels.jwst import datamodels

from image3.io.fits_read import read_lean
from image3.io.level2b import save_model
from image3.io.product_meta import SipSettings, record_image3_meta
from image3.resample.drizzle import Exposure, Mosaic, read_variances, weight_map
from image3.resample.grid import grid_from_asdf, ignored_grid_options, make_grid, read_grid, write_grid
from image3.resample.i2d import DETECTOR_WCSINFO, build_i2d, record_inputs, recorded_scale_ratio
from image3.resample.settings import DrizzleSettings
from image3.wcs.pixmap import pixel_map
from image3.wcs.tangent_plane import native_pixel_scale, tan_wcs

CENTRE = (slice(60, 70), slice(60, 70))  # output pixels near the mosaic's centre


@pytest.fixture(scope="module")
def small():
    """Three simulated 128^2 exposures (models) and their grid."""
    _, _, models, _ = simdata.simulate(simdata.settings(shape=[128, 128], n_exposures=3))
    return models, make_grid([(m.meta.wcs, m.data.shape) for m in models])


def _weighted_copies(model):
    """The official test_weight_type scenario: one exposure three times, SCI 10, 5, 5 MJy/sr and
    VAR_RNOISE 1/10, 1/5, 1/5 (ivm weights 10, 5, 5), no bad pixel."""
    copies = []
    for level in (10.0, 5.0, 5.0):
        m = model.copy()
        m.data[:] = level
        m.dq[:] = 0
        m.var_rnoise[:] = 1.0 / level
        copies.append(m)
    return copies


def _mosaic(models, grid, **settings):
    mosaic = Mosaic(grid, DrizzleSettings(**settings), len(models))
    for m in models:
        mosaic.add(Exposure.from_model(m), native_pixel_scale(m.meta.wcs, m.data.shape))
    return mosaic.arrays()


@pytest.mark.parametrize(("ratio", "pixfrac"), [(1.0, 1.0), (0.8, 1.0), (0.8, 0.6)])
def test_wht_is_weight_times_overlap_area(small, ratio, pixfrac):
    """WHT accumulates each input pixel's weight x its overlap with the output pixel over its own
    footprint area (drizzle's, as the official step): 20 x (output / input pixel area) where the
    three ivm-weighted copies (10 + 5 + 5) cover a pixel, i.e. 20 at pixel_scale_ratio 1 and 12.8
    at 0.8 (a plain sum of weights would stay 20), within 1 % on average over the centre; SCI is
    their weighted mean, 7.5."""
    models, _ = small
    copies = _weighted_copies(models[0])
    grid = make_grid([(copies[0].meta.wcs, copies[0].data.shape)], pixel_scale_ratio=ratio)
    out = _mosaic(copies, grid, pixfrac=pixfrac)
    centre = (slice(grid.shape[0] // 2 - 5, grid.shape[0] // 2 + 5),) * 2
    assert out["wht"][centre].mean() == pytest.approx(20.0 * ratio**2, rel=0.01)
    assert out["data"][centre] == pytest.approx(7.5, rel=1e-5)


def _exposure_from_file(model, path):
    """``model`` written to ``path`` and read back as the resample job reads it (SCI, DQ, the
    variances and TMEASURE from the file; the WCS from ``model``)."""
    save_model(model, path)
    lean = read_lean(path)
    exposure = Exposure.from_lean(lean, read_variances(path, lean.shape))
    exposure.wcs = model.meta.wcs
    return exposure


def test_exptime_weight_is_the_measurement_time(small, tmp_path):
    """weight_type exptime weights by TMEASURE (official), else by the exposure time: files of
    SCI 10, 5, 5 MJy/sr with TMEASURE 40, 20, 20 s and XPOSURE = EFFEXPTM 107.4 s get weights 40,
    20, 20 on their good pixels, so the mosaic's WHT is 80 and SCI 7.5 (before #34 the files'
    XPOSURE: weights 107.4, WHT 322 and SCI 6.67); a file without TMEASURE gets 107.4."""
    models, _ = small
    settings = DrizzleSettings(weight_type="exptime")
    copies = _weighted_copies(models[0])
    exposures = []
    for k, (m, tmeasure) in enumerate(zip(copies, (40.0, 20.0, 20.0), strict=True)):
        m.meta.exposure.measurement_time = tmeasure
        exposures.append(_exposure_from_file(m, tmp_path / f"e{k}_cal.fits"))
    assert exposures[0].exptime == pytest.approx(107.4)
    assert np.unique(weight_map(exposures[0], settings)).tolist() == [40.0]
    grid = make_grid([(copies[0].meta.wcs, copies[0].data.shape)])
    mosaic = Mosaic(grid, settings, 3)
    scale = native_pixel_scale(copies[0].meta.wcs, copies[0].data.shape)
    for exposure in exposures:
        mosaic.add(exposure, scale)
    out = mosaic.arrays()
    assert out["wht"][CENTRE].mean() == pytest.approx(80.0, rel=0.01)
    assert out["data"][CENTRE] == pytest.approx(7.5, rel=1e-5)
    copies[0].meta.exposure.measurement_time = None
    exposure = _exposure_from_file(copies[0], tmp_path / "none_cal.fits")
    assert exposure.tmeasure is None
    assert np.unique(weight_map(exposure, settings)).tolist() == [pytest.approx(107.4)]
    assert np.unique(weight_map(Exposure.from_model(copies[0]), settings)).tolist() == [pytest.approx(107.4)]


def _bad_variances_file(model, path):
    """``model`` written without VAR_POISSON, with an empty VAR_RNOISE and a VAR_FLAT of half
    SCI's shape (what the official step reads as missing and skips)."""
    save_model(model, path)
    with fits.open(path, mode="update") as hdul:
        del hdul["VAR_POISSON"]
        hdul["VAR_RNOISE"].data = None
        hdul["VAR_FLAT"].data = hdul["VAR_FLAT"].data[::2, ::2].copy()


@pytest.mark.parametrize("processes", [1, 2])
def test_variances_of_unexpected_shape_go_on_with_nan_errors(small, tmp_path, caplog, processes):
    """A file whose VAR_POISSON is absent, VAR_RNOISE empty and VAR_FLAT misshaped is drizzled,
    with a warning naming the file for each (before #34: a traceback, broadcasting or 1/None):
    with ivm its good pixels get weight 1 (official); the output variances and ERR are NaN
    exactly where it contributed (its context bit) and finite elsewhere, in one process or two."""
    models, grid = small
    path = tmp_path / "badvar_cal.fits"
    _bad_variances_file(models[1], path)
    caplog.set_level(logging.WARNING, logger="image3")
    lean = read_lean(path)
    bad = Exposure.from_lean(lean, read_variances(path, lean.shape))
    bad.wcs = models[1].meta.wcs
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 3 and all(str(path) in m for m in messages)
    assert all(getattr(bad, v) is None for v in ("var_poisson", "var_rnoise", "var_flat"))
    weight = weight_map(bad, DrizzleSettings())
    assert set(np.unique(weight)) <= {0.0, 1.0} and weight.mean() > 0.99

    scale = native_pixel_scale(models[0].meta.wcs, models[0].data.shape)
    inputs = [Exposure.from_model(models[0]), bad, Exposure.from_model(models[2])]
    mosaic = Mosaic(grid, DrizzleSettings(), 3)
    mosaic.add_all(
        lambda k: {"exposure": inputs[k], "native_scale": scale, "pixmap": None}, 3, processes=processes
    )
    out = mosaic.arrays()
    from_bad = (out["con"][0] & 2) != 0
    covered = out["wht"] > 0
    for name in ("var_poisson", "var_rnoise", "var_flat", "err"):
        assert np.array_equal(np.isnan(out[name]), from_bad | ~covered), name
    assert (covered & ~from_bad).sum() > 1000


def test_single_image_without_var_rnoise_has_weight_one(small):
    """outlier_single's drizzle of an exposure without VAR_RNOISE goes on (a traceback before
    #34): its WHT is that of weight 1, i.e. its coverage (within 1 % at the centre)."""
    from image3.outlier_detection.outliers import single_image

    models, grid = small
    m = models[0]
    exposure = Exposure.from_model(m)
    exposure.var_rnoise = None
    single = single_image(exposure, grid, DrizzleSettings(), native_pixel_scale(m.meta.wcs, m.data.shape))
    finite = single.wht[single.wht > 0]
    assert np.median(finite) == pytest.approx(1.0, rel=0.01)


def test_pixel_scale_wins_over_pixel_scale_ratio(small, caplog):
    """pixel_scale with pixel_scale_ratio goes on (refused before #34): pixel_scale sets the grid,
    and a warning says pixel_scale_ratio is ignored; the recorded ratio is then taken against the
    first input's nominal scale (not the ignored setting)."""
    models, _ = small
    assert ignored_grid_options({"pixel_scale": 0.05, "pixel_scale_ratio": 0.5, "output_wcs": ""}) is None
    caplog.set_level(logging.WARNING, logger="image3")
    grid = make_grid([(m.meta.wcs, m.data.shape) for m in models], pixel_scale=0.05, pixel_scale_ratio=0.5)
    assert grid.pixel_scale == 0.05 and grid.pixel_scale_ratio is None
    assert any("pixel_scale_ratio = 0.5 is ignored" in r.getMessage() for r in caplog.records)


def _asdf_grid(path, shape, *, own_shape=True, tree=None):
    """An output_wcs file: a TAN gwcs of ``shape`` (without its own array_shape and bounding box
    unless ``own_shape``) and top-level ``tree`` entries."""
    import asdf

    wcs = tan_wcs((53.16, -27.8), (10.0, 10.0), 0.06, 0.0, shape)
    if not own_shape:
        wcs.bounding_box = None
        wcs.pixel_shape = None
    asdf.AsdfFile({"wcs": wcs, **(tree or {})}).write_to(path)
    return path


@pytest.mark.parametrize(
    ("tree", "own_shape", "output_shape", "expected"),
    [
        ({"pixel_shape": [50, 40]}, False, None, (40, 50)),
        ({"array_shape": [30, 20], "pixel_shape": [50, 40]}, False, None, (30, 20)),
        ({"array_shape": [30, 20]}, False, [12, 11], (11, 12)),  # output_shape [nx, ny]
        ({"array_shape": [30, 20]}, True, None, (64, 48)),
    ],
)
def test_output_wcs_shape_precedence(tmp_path, tree, own_shape, output_shape, expected):
    """output_wcs: the shape is output_shape, else the gwcs's own, else the file's top-level
    array_shape, else its pixel_shape (nx, ny) (official order); before #34 the top-level keys
    were ignored (no shape: refused)."""
    path = _asdf_grid(tmp_path / "wcs.asdf", (64, 48), own_shape=own_shape, tree=tree)
    assert grid_from_asdf(path, output_shape).shape == expected


def test_output_wcs_pixel_scale_from_the_file(tmp_path):
    """output_wcs: a top-level pixel_scale (arcsec), else sqrt(pixel_area) (arcsec^2), is the
    grid's scale (its pixel area in the _i2d); else it is measured from the gwcs (0.06)."""
    path = _asdf_grid(tmp_path / "a.asdf", (64, 48), tree={"pixel_scale": 0.07})
    assert grid_from_asdf(path).pixel_scale == 0.07
    path = _asdf_grid(tmp_path / "b.asdf", (64, 48), tree={"pixel_area": 0.0025})
    assert grid_from_asdf(path).pixel_scale == pytest.approx(0.05)
    path = _asdf_grid(tmp_path / "c.asdf", (64, 48))
    assert grid_from_asdf(path).pixel_scale == pytest.approx(0.06, rel=1e-6)


def test_recorded_pixel_scale_ratio(small, tmp_path):
    """meta.resample.pixel_scale_ratio (PXSCLRT): the pixel_scale_ratio setting (exactly, also
    after the grid file's round trip), else the grid's scale over sqrt(PIXAR_A2) of the first
    input (official), else over its WCS-measured scale. The first input's PIXAR_A2 is made 2 %
    larger than its WCS area: grid scale / WCS scale (before #34) differs by 1 %."""
    models, _ = small
    reference = models[0].copy()
    measured = native_pixel_scale(reference.meta.wcs, reference.data.shape)
    reference.meta.photometry.pixelarea_arcsecsq = 1.02 * measured**2
    wcs_shapes = [(m.meta.wcs, m.data.shape) for m in models]
    grid = make_grid(wcs_shapes, pixel_scale_ratio=0.7)
    write_grid(grid, tmp_path / "grid.json")
    assert recorded_scale_ratio(read_grid(tmp_path / "grid.json"), reference, measured) == 0.7
    grid = make_grid(wcs_shapes, pixel_scale=0.05)
    nominal = np.sqrt(1.02) * measured
    assert recorded_scale_ratio(grid, reference, measured) == pytest.approx(0.05 / nominal, rel=1e-12)
    reference.meta.photometry.pixelarea_arcsecsq = None
    assert recorded_scale_ratio(grid, reference, measured) == pytest.approx(0.05 / measured, rel=1e-12)


@pytest.fixture(scope="module")
def i2d(small, tmp_path_factory):
    """The _i2d of the three exposures, its grid and its first input (which records a sky level
    0.0, not subtracted, and detector pointing keywords)."""
    models, grid = small
    out = tmp_path_factory.mktemp("i2d")
    cals = []
    for k, m in enumerate(models):
        cals.append(out / f"jw0123400100{k + 1}_03101_00001_nrca1_cal.fits")
        save_model(m, cals[-1])
    reference = datamodels.open(cals[0])
    sky = {"level": 0.0, "subtracted": False, "method": "match"}
    record_image3_meta(reference, "x_asn.json", asn_pool="x_pool.csv", steps={}, sky=sky)
    arrays = _mosaic(models, grid)
    scale = native_pixel_scale(models[0].meta.wcs, models[0].data.shape)
    model = build_i2d(arrays, grid, reference, DrizzleSettings(), 3, 300.0, scale, SipSettings())
    record_inputs(model, cals)
    save_model(model, out / "x_i2d.fits")
    return out / "x_i2d.fits", grid, cals[0]


def test_i2d_header_describes_the_mosaic(i2d):
    """As the official _i2d: none of the input's pointing keywords (V2_REF, V3_REF, VPARITY,
    V3I_YANG, ROLL_REF, RA_REF, DEC_REF, which the input has), a PC + CDELT WCS without CD (CD
    before #34) and no background level (0.0, not subtracted, before #34); astropy's world
    coordinates of that header equal the grid's gwcs within 1e-10 deg, and the file validates as
    an ImageModel."""
    path, grid, cal = i2d
    header, primary, cal_header = (
        fits.getheader(path, "SCI"),
        fits.getheader(path),
        fits.getheader(cal, "SCI"),
    )
    pointing = ("V2_REF", "V3_REF", "VPARITY", "V3I_YANG", "ROLL_REF", "RA_REF", "DEC_REF")
    assert len(pointing) == len(DETECTOR_WCSINFO) and all(k in cal_header for k in pointing)
    assert not any(k in header for k in pointing)
    assert not any(k in header for k in ("CD1_1", "CD1_2", "CD2_1", "CD2_2"))
    assert header["CDELT1"] == header["CDELT2"] == pytest.approx(grid.pixel_scale / 3600, rel=1e-9)
    assert header["PC1_1"] * header["PC2_2"] - header["PC1_2"] * header["PC2_1"] == pytest.approx(-1.0)
    assert "BKGLEVEL" not in primary and "BKGSUB" not in primary
    y, x = np.mgrid[0 : grid.shape[0] : 5, 0 : grid.shape[1] : 5]
    ra, dec = WCS(header).all_pix2world(x, y, 0)
    expected = grid.wcs(x, y, with_bounding_box=False)
    assert np.abs(ra - expected[0]).max() < 1e-10 and np.abs(dec - expected[1]).max() < 1e-10
    with datamodels.ImageModel(path) as model:
        model.validate()
        assert model.meta.background.level is None


def _official_err(models, grid):
    """ERR as the official step makes it (read from stcal's resample): each exposure's sqrt of
    each variance drizzled alone as a weighted mean and squared, then the exposures combined with
    weights 1/(its drizzled VAR_RNOISE): sum(w^2 var) / sum(w)^2 per variance, ERR the root of
    their sum."""
    from drizzle.resample import Drizzle

    wsum = {v: np.zeros(grid.shape) for v in ("var_poisson", "var_rnoise", "var_flat")}
    wt = np.zeros(grid.shape)
    settings = DrizzleSettings()
    for m in models:
        exposure = Exposure.from_model(m)
        pixmap = pixel_map(m.meta.wcs, grid.wcs, m.data.shape, settings.pixmap_step)
        drizzled = {}
        for v in wsum:
            driz = Drizzle(out_shape=grid.shape, fillval="NaN", disable_ctx=True)
            driz.add_image(
                np.sqrt(np.nan_to_num(getattr(exposure, v))).astype(np.float32),
                exptime=1.0,
                pixmap=pixmap,
                weight_map=weight_map(exposure, settings),
                in_units="cps",
            )
            drizzled[v] = driz.out_img.astype(float) ** 2
        with np.errstate(divide="ignore", invalid="ignore"):
            w = np.where(drizzled["var_rnoise"] > 0, 1.0 / drizzled["var_rnoise"], 0.0)
        for v in wsum:
            wsum[v] += np.nan_to_num(drizzled[v]) * w**2
        wt += w
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.sqrt(sum(wsum.values()) / wt**2)


def test_err_is_smaller_than_the_official_recipe(small):
    """Deliberate difference: our variances are drizzled with squared weights (each input pixel's
    variance propagated exactly), the official drizzles sqrt(variance) as a weighted mean per
    exposure (the variance of a mean of fully correlated pixels). On three 128^2 exposures at
    pixel_scale_ratio 1, pixfrac 1, our ERR is 0.743 x the official's (median over the pixels
    every exposure covers; 10-90 %: 0.742-0.745; one exposure alone: 0.67; #34 measured 0.695 on
    the official's scenario)."""
    models, grid = small
    ours = _mosaic(models, grid)
    official = _official_err(models, grid)
    everywhere = ours["con"][0] == 0b111
    ratio = np.median(ours["err"][everywhere] / official[everywhere])
    assert 0.72 < ratio < 0.77


def test_output_wcs_overrides_the_other_grid_options_with_a_warning():
    """As the official step ("Ignoring wcs_pars"): output_wcs with other grid options goes on,
    the others ignored, and the warning the workflow prints at load names each (refused before)."""
    resample = {"output_wcs": "grid.asdf", "pixel_scale": 0.05, "pixel_scale_ratio": 0.5, "crpix": None}
    assert ignored_grid_options(resample) == (
        "resample.output_wcs = 'grid.asdf' fixes the output grid: resample.pixel_scale, "
        "resample.pixel_scale_ratio ignored (as in the official step)"
    )
    assert ignored_grid_options({**resample, "output_wcs": ""}) is None
