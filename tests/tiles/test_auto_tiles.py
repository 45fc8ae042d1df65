"""Tiles without the user asking (tiles.size auto, the default): the grid's size estimated from the
members' S_REGION when the workflow loads, a product above tiles.auto_pixels tiled as if its tile
size were given, size 0 forcing one mosaic, the multi-band case left whole."""

import json
import math
import re

import numpy as np
import pytest
from astropy.io import fits
from workflow_helpers import (
    EXPOSURES,
    PRODUCT,
    SMALL,
    TILED,
    copy_workdir,
    executed_jobs,
    merged,
    snakemake,
    user_asn,
)

from image3.errors import InputError
from image3.io.fits_read import HeaderScan, scan_headers
from image3.io.members import scan_members
from image3.simulate import demo as demo_names
from image3.tiles.auto import auto_tile_size, auto_tiling, check_auto_settings, parse_s_region

# The small demo's grid is 476 x 541 = 257,516 pixels (estimated 484 x 539): with auto_pixels of
# 360², above it, auto tiles it in tiles of 360 pixels, as workflow_helpers.TILED gives explicitly.
AUTO_PIXELS = TILED["tiles"]["size"] ** 2
AUTO = {**SMALL, "tiles": {**TILED["tiles"], "size": "auto", "auto_pixels": AUTO_PIXELS}}
RESAMPLE = {
    "output_shape": None,
    "pixel_scale": None,
    "pixel_scale_ratio": 1.0,
    "rotation": None,
    "output_wcs": "",
}
LINE = (
    f"product {PRODUCT}: grid 484 x 539 pixels (estimated from its members' S_REGION) > tiles.auto_pixels "
    f"{AUTO_PIXELS}: tiled in 360-pixel tiles (tiles.size: 0 forces one mosaic)"
)


def _cal_files(workdir):
    return [workdir / "demo" / f"{e}_cal.fits" for e in EXPOSURES]


def _asn(workdir):
    return str(workdir / "demo" / demo_names.association_name())


def test_s_region_is_read_whole_from_its_continue_cards(demo):
    """S_REGION is a FITS long string (three CONTINUE cards in the simulator's files, as in MAST's):
    the lean header scan reads it whole, as astropy does, and it parses to the 4 corners."""
    path = _cal_files(demo)[0]
    scan = scan_headers(path, (), ("S_REGION", "PIXAR_A2"))
    expected = fits.getheader(path, "SCI")["S_REGION"]
    assert len(expected) > 68 and scan.sci["S_REGION"] == expected
    corners = parse_s_region(scan.sci["S_REGION"])
    assert corners.shape == (4, 2) and np.all(np.abs(corners - [53.16, -27.8]) < 0.1)
    assert parse_s_region("CIRCLE ICRS 53.1 -27.8 0.01") is None and parse_s_region(None) is None


def test_the_estimate_is_within_two_percent_of_the_grid(demo):
    """The estimate from the members' nominal S_REGION (before alignment) against the grid the
    resample_grid job made from the aligned WCS: 484 x 539 against 476 x 541 pixels (+1.3 %)."""
    grid = json.loads((demo / "results" / PRODUCT / "work" / f"{PRODUCT}_grid.json").read_text())
    scans = scan_members(PRODUCT, _cal_files(demo))
    decision = auto_tiling(PRODUCT, scans, RESAMPLE, auto_pixels=1, multiband=False)
    ny, nx = grid["shape"]
    assert f"grid {nx} x {ny} " not in decision.message  # an estimate, not the grid itself
    estimated = [int(n) for n in decision.message.split("grid ")[1].split(" pixels")[0].split(" x ")]
    assert abs(estimated[0] - nx) <= 10 and abs(estimated[1] - ny) <= 10
    assert abs(math.prod(estimated) / (nx * ny) - 1) < 0.02
    assert not auto_tiling(PRODUCT, scans, RESAMPLE, auto_pixels=nx * ny * 2, multiband=False).tiled


def test_what_auto_does_without_an_estimate_or_with_a_common_grid(demo):
    scans = scan_members(PRODUCT, _cal_files(demo))
    exact = auto_tiling(
        PRODUCT, scans, {**RESAMPLE, "output_shape": [2000, 1000]}, auto_pixels=10**6, multiband=False
    )
    assert (
        exact.tiled
        and "grid 2000 x 1000 pixels (resample.output_shape) > tiles.auto_pixels 1000000" in exact.message
    )
    multiband = auto_tiling(PRODUCT, scans, RESAMPLE, auto_pixels=1000, multiband=True)
    assert not multiband.tiled and "left one mosaic: with resample.grid common" in multiband.message
    assert auto_tiling(
        PRODUCT, scans, {**RESAMPLE, "output_wcs": "grid.asdf"}, auto_pixels=1000, multiband=False
    ) == (auto_tiling(PRODUCT, scans, RESAMPLE, auto_pixels=10**9, multiband=False))
    bare = {"a_cal.fits": HeaderScan([], {}, {"PIXAR_A2": 1e-3})}
    unknown = auto_tiling("p", bare, RESAMPLE, auto_pixels=1000, multiband=False)
    assert not unknown.tiled and "a_cal.fits has no S_REGION polygon" in unknown.message
    assert auto_tile_size(AUTO_PIXELS) == 360 and auto_tile_size(AUTO_PIXELS - 1) == 359
    with pytest.raises(InputError, match=r"tiles.auto_pixels = 6400 makes automatic tiles of 80 pixels"):
        check_auto_settings(auto_pixels=6400, margin=40)


def test_a_product_above_auto_pixels_is_tiled_as_with_its_tile_size_given(demo, tiled_demo, tmp_path):
    """The demo's files as a user's association (the demo itself is never tiled by auto: its files
    are made in the run) with auto_pixels below its grid: the run says so in one line, makes the
    tile index, the 4 tiles and the merged catalog, and each tile's SCI, WHT, CON and ERR equal
    those of the explicitly tiled demo (tiles.size 360) array for array. Its jobs and parameters are
    those of tiles.size 360: with it, nothing is left to do.

    The work directory is a copy of the demo's, which holds every file up to the grid; the
    association names the same files by absolute paths, which Snakemake's `input` trigger takes for
    a new input set, so the run leaves that trigger out (mtime, params, code and software-env stay)."""
    work = copy_workdir(demo, tmp_path / "work")
    triggers = ("--rerun-triggers", "mtime", "params", "code", "software-env")
    result = snakemake(work, *triggers, config=merged(AUTO, {"asn": _asn(work)}))
    assert LINE in result.stderr.splitlines()
    assert executed_jobs(result) == {
        "tile_index": 1,
        "resample_tile": 4,
        "source_catalog_tile": 4,
        "merge_tile_catalogs": 1,
    }
    out, explicit = work / "results" / PRODUCT, tiled_demo / "results" / PRODUCT
    assert (out / f"{PRODUCT}_cat.ecsv").stat().st_mtime > (out / f"{PRODUCT}_tiles.ecsv").stat().st_mtime
    for tile in ("t0-0", "t1-0", "t0-1", "t1-1"):
        with (
            fits.open(out / f"{PRODUCT}_{tile}_i2d.fits") as got,
            fits.open(explicit / f"{PRODUCT}_{tile}_i2d.fits") as want,
        ):
            for name in ("SCI", "WHT", "CON", "ERR"):
                np.testing.assert_array_equal(got[name].data, want[name].data, err_msg=f"{tile} {name}")
    again = snakemake(work, "-n", *triggers, config=merged(TILED, {"asn": _asn(work)}))
    assert "Nothing to be done" in again.stdout + again.stderr and "auto_pixels" not in again.stderr


def test_size_0_forces_one_mosaic_and_products_are_decided_one_by_one(demo, tmp_path):
    """Planned from scratch (dry runs): with the same low auto_pixels, size 0 plans one mosaic and
    says nothing; auto tiles the 4-exposure product (estimated 260,876 pixels) and not a product of
    one exposure (385 x 385 = 148,225) when auto_pixels is 200,000; the demo (no asn) stays one
    mosaic; a common grid of several products keeps them whole and says why."""
    cals = [str(p) for p in _cal_files(demo)]
    asn = tmp_path / "two_asn.json"
    user_asn(asn, {"wide": cals, "narrow": cals[:1]})
    runs = {
        "size 0": merged(AUTO, {"asn": _asn(demo), "tiles": {"size": 0}}),
        "mixed": merged(AUTO, {"asn": str(asn), "tiles": {"auto_pixels": 200_000}}),
        "demo": AUTO,
        "common grid": merged(AUTO, {"asn": str(asn), "resample": {"grid": "common"}}),
    }
    planned = {}
    for name, config in runs.items():
        workdir = tmp_path / name.replace(" ", "_")
        workdir.mkdir()
        result = snakemake(workdir, "-n", config=config)
        table = result.stdout.split("Job stats:", 1)[1].split("Reasons:", 1)[0]
        planned[name] = (
            {rule: int(n) for rule, n in re.findall(r"^(\w+)\s+(\d+)\s*$", table, flags=re.M)},
            result.stderr,
        )
    jobs, log = planned["size 0"]
    assert jobs["resample"] == 1 and jobs["source_catalog"] == 1 and "tile_index" not in jobs
    assert "auto_pixels" not in log
    jobs, log = planned["mixed"]
    assert jobs["tile_index"] == jobs["merge_tile_catalogs"] == 1
    assert jobs["resample"] == jobs["source_catalog"] == jobs["preview"] == 1
    assert "product wide: grid 484 x 539 pixels" in log and "product narrow" not in log
    jobs, log = planned["demo"]
    assert jobs["resample"] == 1 and "tile_index" not in jobs and "auto_pixels" not in log
    jobs, log = planned["common grid"]
    assert jobs["resample"] == 2 and jobs["multiband_catalog"] == 1 and "tile_index" not in jobs
    assert "product wide: grid" in log and "left one mosaic: with resample.grid common" in log
