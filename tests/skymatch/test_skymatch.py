"""skymatch against the simulator's truth: matched, local and global levels, source masking,
exposures that do not overlap, exposure groups, user levels, and the _crf files."""

import dataclasses
import itertools
import json
import logging

import numpy as np
import pytest
import simdata
import yaml
from astropy.table import Table
from stdatamodels.jwst import datamodels

from image3.errors import InputError
from image3.exposure_products.crf import write_crf
from image3.io.exposure_groups import exposure_group
from image3.io.product_meta import SipSettings
from image3.simulate.exposure import ARCSEC2_TO_SR, relative_pixel_area, render_sources
from image3.simulate.observation import ExposurePointing
from image3.simulate.psf import PixelIntegratedPSF
from image3.simulate.scene import ab_to_jy
from image3.skymatch.cells import exposure_cells, sky_grid
from image3.skymatch.levels import compute_sky, load_result, save_result
from image3.skymatch.qa import plot_skymatch
from image3.skymatch.settings import SkySettings
from image3.skymatch.sky import measure_files, user_sky
from image3.skymatch.statistics import sky_statistic
from image3.skymatch.store import read_sky_entry, write_sky_file
from image3.wcs.jwst_wcs import imaging_wcs

TOLERANCE = 0.0005  # MJy/sr: the requirement for levels and level differences


def pointing(entry) -> ExposurePointing:
    return ExposurePointing.from_dict({k: v for k, v in entry.items() if k != "sky_level"})


def reduce(models, names, settings, data=None, wcs=None, groups=None):
    """ExposureCells of each exposure on a common sky grid (in memory, no files); ``data`` and
    ``wcs`` replace the models' own when given."""
    data = data or [m.data for m in models]
    wcs = wcs or [m.meta.wcs for m in models]
    grid = sky_grid([(w, d.shape) for d, w in zip(data, wcs, strict=True)], settings.cell_size)
    groups = groups or names
    return [
        exposure_cells(n, g, d, m.dq, w, grid, settings)
        for n, g, d, w, m in zip(names, groups, data, wcs, models, strict=True)
    ]


def levels_of(cells, settings, **changes):
    result = compute_sky(cells, dataclasses.replace(settings, **changes))
    return result, np.array([result.levels[c.name] for c in cells])


def pair_rms(levels, true, members=None):
    """RMS over pairs of the error of the level difference (MJy/sr)."""
    members = range(len(levels)) if members is None else members
    errors = [(levels[i] - levels[j]) - (true[i] - true[j]) for i, j in itertools.combinations(members, 2)]
    return float(np.sqrt(np.mean(np.square(errors))))


@pytest.fixture(scope="module")
def small(default_small):
    """The shared 6 x 384^2 dataset reduced to sky cells with the default settings."""
    sim, scene, truth, models, _ = default_small
    names = [e["name"] for e in truth]
    settings = SkySettings()
    cells = reduce(models, names, settings)
    true = np.array([e["sky_level"] for e in truth])
    return settings, cells, true


def test_match_recovers_the_injected_level_differences(small):
    settings, cells, true = small
    result, levels = levels_of(cells, settings, skymethod="match")
    assert np.ptp(true) > 0.02  # offsets of 0.02-0.1 MJy/sr were injected
    assert pair_rms(levels, true) < TOLERANCE
    assert levels.min() == 0.0 and np.argmin(levels) == np.argmin(true)  # match_down
    assert len(result.pairs) == 15 and len(result.components) == 1
    assert max(abs(p.after) for p in result.pairs) < 3 * TOLERANCE
    _, up = levels_of(cells, settings, skymethod="match", match_down=False)
    assert up.max() == 0.0 and np.allclose(up - up.min(), levels, atol=1e-12)
    for skystat in ("mean", "median", "midpt"):
        assert pair_rms(levels_of(cells, settings, skystat=skystat)[1], true) < TOLERANCE, skystat


def test_local_global_and_global_match_recover_true_levels(small):
    settings, cells, true = small
    for skystat in ("mode", "mean", "median", "midpt"):
        _, local = levels_of(cells, settings, skymethod="local", skystat=skystat)
        assert np.abs(local - true).max() < TOLERANCE, (skystat, local - true)
    _, glob = levels_of(cells, settings, skymethod="global")
    assert np.ptp(glob) == 0.0  # one level for all: the smallest local level
    assert abs(glob[0] - true.min()) < TOLERANCE
    _, both = levels_of(cells, settings, skymethod="global+match")
    assert np.abs(both - true).max() < TOLERANCE


def test_statistics_of_a_contaminated_distribution():
    """Noise plus faint source light in a sixth of the values (an exponential tail): the mode is
    pulled least, then the median (midpt agrees with it), then the clipped mean."""
    rng = np.random.default_rng(3)
    noise = rng.normal(0.0, 1.0, 48_000)
    values = noise + np.where(np.arange(noise.size) < 8_000, rng.exponential(1.5, noise.size), 0.0)
    stats = {
        k: sky_statistic(values, SkySettings(skystat=k)).value for k in ("mode", "median", "midpt", "mean")
    }
    assert 0.0 < stats["mode"] < 0.12 < stats["median"] < stats["mean"]
    assert abs(stats["midpt"] - stats["median"]) < 0.01
    clean = {k: sky_statistic(noise, SkySettings(skystat=k)).value for k in stats}
    assert all(abs(v) < 0.015 for v in clean.values()), clean  # about 3 standard errors
    empty = sky_statistic(np.array([np.nan]), SkySettings())
    assert np.isnan(empty.value) and empty.n == 0


def _galaxy_images(sim, truth, models, mag=15.5, r_eff=0.8, sersic_n=2.5):
    """A bright extended galaxy rendered through each exposure's true WCS (MJy/sr, with photon noise),
    centred where exactly two exposures overlap (found on the nominal WCS)."""
    settings = SkySettings()
    grid = sky_grid([(m.meta.wcs, m.data.shape) for m in models], settings.cell_size)
    yy, xx = np.indices(grid.shape)
    ra, dec = grid.wcs(xx, yy)
    margin = 60
    inside = []
    for m in models:
        x, y = m.meta.wcs.invert(ra, dec, with_bounding_box=False)
        ny, nx = m.data.shape
        inside.append((x > margin) & (x < nx - margin) & (y > margin) & (y < ny - margin))
    two = np.argwhere(np.sum(inside, axis=0) == 2)
    iy, ix = two[len(two) // 2]
    row = dict(type="galaxy", ra=ra[iy, ix], dec=dec[iy, ix], flux_jy=float(ab_to_jy(mag)))
    table = Table([row | dict(sersic_n=sersic_n, r_eff=r_eff, axis_ratio=0.7, pa=30.0)])
    psf = PixelIntegratedPSF(sim["filter"], 0.0311)
    rng = np.random.default_rng(11)
    images = []
    for entry, model in zip(truth, models, strict=True):
        wcs = imaging_wcs(model.data.shape, pointing(entry).true)
        flux = render_sources(table, wcs, model.data.shape, psf, 0.0311)
        image = flux * 1e-6 / (0.0311**2 * ARCSEC2_TO_SR * relative_pixel_area(wcs, model.data.shape))
        image += rng.normal(0.0, 1.0, image.shape) * np.sqrt(image / sim["electrons_per_mjysr"])
        images.append(image.astype(np.float32))
    covering = np.flatnonzero(np.array(inside)[:, iy, ix])
    return images, covering


def test_bright_galaxy_in_an_overlap_does_not_move_matched_levels(default_small, small):
    """A 15.5 mag galaxy of 0.8 arcsec effective radius added inside the overlap of two exposures
    (same noise elsewhere) moves no matched level by more than the tolerance; without the source
    mask it would."""
    sim, scene, truth, models, _ = default_small
    settings, cells, true = small
    galaxy, covering = _galaxy_images(sim, truth, models)
    assert len(covering) == 2 and max(g.max() for g in galaxy) > 50.0
    data = [m.data + g for m, g in zip(models, galaxy, strict=True)]
    names = [c.name for c in cells]
    _, plain = levels_of(cells, settings)
    _, with_galaxy = levels_of(reduce(models, names, settings, data=data), settings)
    assert np.abs(with_galaxy - plain).max() < TOLERANCE, with_galaxy - plain
    assert pair_rms(with_galaxy, true) < TOLERANCE
    unmasked = dataclasses.replace(settings, detect_threshold=1e9, mask_dilate=0)
    _, naive = levels_of(reduce(models, names, unmasked, data=data), unmasked)
    assert np.abs(naive - plain).max() > 2 * TOLERANCE  # the test is sensitive to masking


def test_two_fields_that_do_not_overlap_are_matched_separately(default_small, small, caplog):
    """Exposures 4-6 moved 6 arcmin north (their WCS only) form a second field: each field is
    matched within itself, and the log warns that the two are not matched to each other."""
    sim, scene, truth, models, _ = default_small
    settings, cells, true = small
    wcs = []
    for k, (entry, model) in enumerate(zip(truth, models, strict=True)):
        nominal = pointing(entry).nominal
        if k >= 3:
            nominal = dataclasses.replace(nominal, dec_ref=nominal.dec_ref + 0.1)
        wcs.append(imaging_wcs(model.data.shape, nominal))
    names = [c.name for c in cells]
    moved = reduce(models, names, settings, wcs=wcs)
    with caplog.at_level(logging.WARNING, logger="image3"):
        result, levels = levels_of(moved, settings)
    assert sorted(map(sorted, result.components)) == [names[:3], names[3:]]
    assert "do not overlap each other" in caplog.text
    for field in (range(3), range(3, 6)):
        assert pair_rms(levels, true, field) < TOLERANCE
        assert min(levels[k] for k in field) == 0.0
    assert all({p.a, p.b} <= set(names[:3]) or {p.a, p.b} <= set(names[3:]) for p in result.pairs)


def test_exposure_groups_share_one_level(default_small, small):
    """``group_exposures: true`` gives a group one level whatever its members' skies; ``auto`` (the
    default) finds that these two members' levels differ and gives each its own."""
    sim, scene, truth, models, _ = default_small
    settings, cells, true = small
    grouped = [dataclasses.replace(c, group="pair" if k < 2 else c.name) for k, c in enumerate(cells)]
    result, levels = levels_of(grouped, settings, group_exposures=True)
    assert levels[0] == levels[1]
    assert len(result.pairs) == 10  # the group and the other 4 exposures
    assert pair_rms(levels, true, range(2, 6)) < TOLERANCE
    auto, split = levels_of(grouped, settings)
    assert [(t.exposure, t.one_level) for t in auto.group_tests] == [("pair", False)]
    assert pair_rms(split, true) < TOLERANCE
    # The group id comes from the observation metadata: two detectors of one exposure share it.
    meta = models[0].meta
    other = datamodels.ImageModel((2, 2))
    other.meta.observation = meta.observation.instance
    name = truth[0]["name"]
    assert (
        exposure_group(other.meta, "other_nrcb1") == exposure_group(meta, name) == "jw01234001001_03101_00001"
    )
    assert exposure_group(meta, name, group_exposures=False) == name
    assert exposure_group(models[1].meta, truth[1]["name"]) != exposure_group(meta, name)


def test_config_defaults_are_the_library_defaults():
    config = yaml.safe_load((simdata.REPO / "config.yaml").read_text())["skymatch"]
    assert SkySettings(**config) == SkySettings()
    assert SkySettings().skymethod == "match" and SkySettings().skystat == "mode"  # official defaults


def test_user_levels_and_bad_settings(tmp_path, small):
    settings, cells, true = small
    names = [c.name for c in cells]
    listing = tmp_path / "sky.txt"
    lines = ["# exposure level"] + [f"/data/{n}_cal.fits {0.1 * k}" for k, n in enumerate(names[:-1])]
    listing.write_text("\n".join(lines + [f"{names[-1]} 0.7"]) + "\n")
    result = user_sky(str(listing), names)
    assert [result.levels[n] for n in names] == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4, 0.7])
    listing.write_text(lines[1] + "\n")
    with pytest.raises(InputError, match=f"skymatch.skylist.*{names[1]}"):
        user_sky(str(listing), names)
    with pytest.raises(InputError, match="skymatch.skylist"):
        SkySettings(skymethod="user")
    with pytest.raises(InputError, match="skymatch.skystat"):
        SkySettings(skystat="average")
    with pytest.raises(InputError, match="skymatch.lower"):
        SkySettings(lower=1.0, upper=0.5)
    with pytest.raises(InputError, match="skymatch.group_exposures"):
        SkySettings(group_exposures="yes")
    with pytest.raises(InputError, match="skymatch.group_significance"):
        SkySettings(group_significance=1.0)


def test_files_sky_side_file_and_crf(default_small, tmp_path):
    """From files: the levels equal the in-memory ones; the side file feeds the _crf, which records
    meta.background and, with subtract, takes the level off SCI; an input whose sky was already
    subtracted needs subtract: true."""
    sim, scene, truth, models, _ = default_small
    names = [e["name"] for e in truth[:3]]
    paths = []
    for name, model in zip(names, models[:3], strict=True):
        paths.append(tmp_path / f"{name}_cal.fits")
        model.save(paths[-1])
    settings = SkySettings(skymethod="global+match", subtract=True)
    result = measure_files(paths, names, settings)
    three = models[:3]
    groups = [exposure_group(m.meta, n) for m, n in zip(three, names, strict=True)]
    cells = reduce(three, names, settings, groups=groups)
    assert result.levels == pytest.approx(compute_sky(cells, settings).levels, abs=1e-9)
    for name, entry in zip(names, truth, strict=False):
        assert abs(result.levels[name] - entry["sky_level"]) < TOLERANCE
    sky_file = tmp_path / "sky.json"
    write_sky_file(sky_file, result.levels, settings.subtract, result.method)
    entry = read_sky_entry(sky_file, names[0])
    assert entry == {"level": result.levels[names[0]], "subtracted": True, "method": "global+match"}
    with pytest.raises(InputError, match="no sky level for exposure nope"):
        read_sky_entry(sky_file, "nope")
    crf = tmp_path / "out" / f"{names[0]}_o001_crf.fits"
    write_crf(paths[0], crf, "asn.json", SipSettings(), sky=entry)
    with datamodels.open(crf) as out, datamodels.open(paths[0]) as cal:
        assert out.meta.background.level == entry["level"] and out.meta.background.subtracted is True
        assert out.meta.background.method == "global+match" and out.meta.cal_step.skymatch == "COMPLETE"
        assert np.allclose(out.data, cal.data - entry["level"], atol=1e-6)
    # The _crf (sky subtracted) as input again: its level counts as already subtracted.
    again = measure_files([crf, *paths[1:]], names, settings)
    assert again.levels == pytest.approx(result.levels, abs=2e-4)
    with pytest.raises(InputError, match=f"{crf.name}.*already subtracted.*skymatch.subtract"):
        measure_files([crf, *paths[1:]], names, SkySettings())
    saved = tmp_path / "skymatch.json"
    save_result(result, saved)
    as_json = lambda r: json.dumps(dataclasses.asdict(r))  # noqa: E731 (NaN equals NaN in JSON text)
    assert as_json(load_result(saved)) == as_json(result)
    png = tmp_path / "qa.png"
    plot_skymatch(load_result(saved), png)
    assert png.stat().st_size > 10_000
