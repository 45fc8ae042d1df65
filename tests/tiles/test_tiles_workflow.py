"""Tiles in the workflow: the tiled demo's mosaics and catalog against the untiled demo's, the tile
index, and bad tile settings (reruns: test_reruns.py)."""

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import QTable, Table
from astropy.wcs import WCS as FitsWCS
from scipy.spatial import cKDTree
from stdatamodels.jwst import datamodels
from workflow_helpers import PRODUCT, SMALL, TILED, copy_workdir, merged, snakemake

from image3.io.association import SIMULATED_POOL
from image3.io.provenance import software_version
from image3.tiles.layout import tile_named

pytestmark = pytest.mark.workflow

TILES = TILED["tiles"]


def _out(workdir):
    return workdir / "results" / PRODUCT


def _tiles(workdir):
    """The tiled demo's tiles, from its index and the product grid's shape."""
    index = Table.read(_out(workdir) / f"{PRODUCT}_tiles.ecsv", format="ascii.ecsv")
    shape = tuple(index.meta["grid_shape"])
    return index, [
        tile_named(shape, name, size=TILES["size"], margin=TILES["margin"]) for name in index["name"]
    ]


def _without_cut_edges(tile):
    """Mask of a tile's array less its outermost pixels where the tile's edge is not the grid's."""
    ny, nx = tile.grid_shape
    keep = np.ones(tile.shape, bool)
    for edge, cut in ((np.s_[0, :], tile.y[0] > 0), (np.s_[-1, :], tile.y[1] < ny)):
        keep[edge] &= not cut
    for edge, cut in ((np.s_[:, 0], tile.x[0] > 0), (np.s_[:, -1], tile.x[1] < nx)):
        keep[edge] &= not cut
    return keep


def test_tiled_mosaic_equals_the_untiled_one_in_every_interior(demo, tiled_demo):
    """SCI, ERR and WHT of each tile equal the untiled mosaic's in the tile's interior to float32
    rounding (measured: 1.6e-7 relative; the pixel maps differ by the shifted crpix's rounding), and
    so do all but a few of its margin pixels, leaving out the array's outermost pixels where they are
    not the grid's edge (drizzle leaves out input pixels whose centres land beyond the output array:
    the margin's purpose). The tile's WCS is the product's shifted by the tile's origin."""
    out = _out(tiled_demo)
    index, tiles = _tiles(tiled_demo)
    assert len(tiles) == 4
    with fits.open(_out(demo) / f"{PRODUCT}_i2d.fits") as hdul:
        full = {name: hdul[name].data for name in ("SCI", "ERR", "WHT")}
        full_wcs = FitsWCS(hdul["SCI"].header)
    for tile in tiles:
        with fits.open(out / f"{PRODUCT}_{tile.name}_i2d.fits") as hdul:
            assert hdul["SCI"].data.shape == tile.shape
            for name, mosaic in full.items():
                inner = (slice(*tile.interior_y), slice(*tile.interior_x))
                local = (slice(inner[0].start - tile.y[0], inner[0].stop - tile.y[0]),
                         slice(inner[1].start - tile.x[0], inner[1].stop - tile.x[0]))  # fmt: skip
                got, want = hdul[name].data[local], mosaic[inner]
                assert np.isfinite(want).mean() > 0.9
                np.testing.assert_allclose(
                    got, want, rtol=1e-6, atol=1e-7 * np.nanmax(np.abs(want)), err_msg=f"{tile.name} {name}"
                )
                whole, keep = mosaic[slice(*tile.y), slice(*tile.x)], _without_cut_edges(tile)
                close = np.isclose(
                    hdul[name].data[keep], whole[keep], rtol=1e-6, atol=1e-7 * np.nanmax(np.abs(want))
                ) | (np.isnan(hdul[name].data[keep]) & np.isnan(whole[keep]))
                # Measured after the merge on main: 8 of 95700 margin pixels of one tile differ by up to
                # 2.6e-4 relative (not investigated yet; the interiors above are exact).
                assert close.mean() > 0.999, (
                    f"{tile.name} {name}: {np.count_nonzero(~close)} margin pixels differ"
                )
            tile_wcs = FitsWCS(hdul["SCI"].header)
        x, y = np.array([0.0, 100.0, tile.shape[1] - 1.0]), np.array([0.0, 50.0, tile.shape[0] - 1.0])
        ra, dec = tile_wcs.all_pix2world(x, y, 0)
        fx, fy = full_wcs.all_world2pix(ra, dec, 0)
        np.testing.assert_allclose(fx - tile.origin[0], x, atol=1e-3)
        np.testing.assert_allclose(fy - tile.origin[1], y, atol=1e-3)


def test_tile_index_lists_each_tile_and_what_it_reads(tiled_demo):
    out = _out(tiled_demo)
    index, tiles = _tiles(tiled_demo)
    assert list(index["name"]) == ["t0-0", "t1-0", "t0-1", "t1-1"]
    assert index.meta["size"] == TILES["size"] and index.meta["margin"] == TILES["margin"]
    for row, tile in zip(index, tiles, strict=True):
        assert (row["x_start"], row["x_stop"], row["interior_y_start"]) == (*tile.x, tile.interior_y[0])
        assert row["n_exposures"] == len(row["exposures"].split(",")) == 4  # a small, dense field
        with datamodels.open(out / f"{PRODUCT}_{row['name']}_i2d.fits") as model:
            assert model.meta.resample.pointings == row["n_exposures"]
            ra, dec = model.meta.wcs(-0.5, -0.5, with_bounding_box=False)
        assert abs(ra - row["footprint"][0][0]) < 1e-8 and abs(dec - row["footprint"][0][1]) < 1e-8
    assert (out / "qa" / f"{PRODUCT}_tiles.png").stat().st_size > 10_000
    snakemake(tiled_demo, "--report", "report.html", config=TILED)
    assert f"{PRODUCT}_tiles.png" in (tiled_demo / "report.html").read_text(errors="ignore")


def test_tiled_catalog_has_each_source_once_and_matches_the_untiled_one(demo, tiled_demo):
    """The merged catalog has each source once (no two entries from different tiles within 10 pixels,
    though 30-45 sources sit in two or four tiles' arrays), unique labels, product-grid positions;
    every source brighter than AB 23 of the untiled catalog is in it within 0.1 pixel (3 mas), and
    95 % of all within 0.7 pixel.

    Each tile's catalog is measured on the tile alone: its background and RMS meshes are the tile's
    own (bkg_boxsize boxes from the tile's origin; here one box per image), so the threshold near
    faint sources and their isophotes differ a little (measured: 7 of 109 sources moved by 0.1-0.6
    pixel, all fainter than AB 23, and one near the limit found by one catalog only): Kron fluxes of
    the bright sources agree within 0.8 %, isophotal within 1.6 %. Without an APCORR file the
    aperture radii come from each tile's own curve of growth (0.747-0.782 pixel for the untiled
    0.762 at 30 % EE), so aperture fluxes differ by up to 10 % source by source (median 0.9 %).
    Sources cut by a tile's outer edge lie in its margin, so the neighbour that holds them whole owns
    them.
    """
    out = _out(tiled_demo)
    tiled = QTable.read(out / f"{PRODUCT}_cat.ecsv", format="ascii.ecsv")
    untiled = QTable.read(_out(demo) / f"{PRODUCT}_cat.ecsv", format="ascii.ecsv")
    entries = sum(
        len(QTable.read(out / f"{PRODUCT}_{t}_cat.ecsv", format="ascii.ecsv")) for t in set(tiled["tile"])
    )
    assert entries - len(tiled) > 30
    assert (tiled.meta["CAL_VER"], tiled.meta["ASNPOOL"]) == (software_version(), SIMULATED_POOL)
    assert list(tiled["label"]) == list(range(1, len(tiled) + 1))
    positions = np.column_stack([tiled["xcentroid"].value, tiled["ycentroid"].value])
    distance, nearest = cKDTree(positions).query(positions, k=2)
    other_tile = tiled["tile"][nearest[:, 1]] != tiled["tile"]
    assert distance[other_tile, 1].min() > 10
    reference = np.column_stack([untiled["xcentroid"].value, untiled["ycentroid"].value])
    to_tiled, match = cKDTree(positions).query(reference)
    bright = untiled["isophotal_abmag"].value < 23
    assert bright.sum() > 50 and to_tiled[bright].max() < 0.1
    assert np.mean(to_tiled < 0.7) > 0.95 and abs(len(tiled) - len(untiled)) <= 0.05 * len(untiled)
    sky = tiled["sky_centroid"][match[bright]].separation(untiled["sky_centroid"][bright]).to("mas").value
    assert sky.max() < 3.0
    for column, tolerance in (("kron_flux", 0.01), ("isophotal_flux", 0.02)):
        ratio = tiled[column][match[bright]] / untiled[column][bright]
        assert np.all(np.abs(ratio - 1) < tolerance), column
    ratio = tiled["aper_total_flux"][match[bright]] / untiled["aper_total_flux"][bright]
    assert abs(np.median(ratio) - 1) < 0.015


@pytest.mark.parametrize(
    ("tiles", "named"),
    [
        ({"size": 80, "margin": 40}, "tiles.size = 80 must exceed twice tiles.margin = 40"),
        ({"size": 50, "margin": 40}, "tiles.size = 50 must exceed twice tiles.margin = 40"),
        ({"size": -5}, "size"),
        ({"margin": -1}, "margin"),
    ],
)
def test_bad_tile_settings_stop_at_load(tmp_path, tiles, named):
    result = snakemake(tmp_path, "-n", config=merged(SMALL, {"tiles": tiles}), check=False)
    text = result.stdout + result.stderr
    assert result.returncode != 0 and named in text, text[-2000:]
    assert "Traceback" not in text
    assert not (tmp_path / "demo").exists()


def test_too_many_tiles_stop_at_load_when_the_grid_shape_is_known(tmp_path):
    """resample.output_shape fixes the grid's shape, so the tile count is known when the workflow loads."""
    config = merged(
        TILED, {"resample": {"output_shape": [3000, 2000]}, "tiles": {"max_tiles": 87}}
    )  # [nx, ny]
    result = snakemake(tmp_path, "-n", config=config, check=False)
    text = result.stdout + result.stderr
    assert result.returncode != 0 and "makes 11 x 8 = 88 tiles" in text and "tiles.max_tiles = 87" in text
    assert "Traceback" not in text


def test_too_many_tiles_stop_the_tile_index_job(demo, tmp_path):
    """Without resample.output_shape the tile count is known once the grid is (a job's output): the
    tile_index job stops with a one-line message naming the key, before any tile job."""
    work = copy_workdir(demo, tmp_path / "work")
    result = snakemake(work, config=merged(TILED, {"tiles": {"max_tiles": 3}}), check=False)
    assert result.returncode != 0
    log = (work / "results" / "logs" / PRODUCT / "tile_index.log").read_text()
    assert "makes 2 x 2 = 4 tiles" in log and "tiles.max_tiles = 3" in log and "Traceback" not in log
    assert not list((work / "results" / PRODUCT).glob("*_t0-0_*"))
    assert not (work / "results" / PRODUCT / f"{PRODUCT}_tiles.ecsv").exists()
