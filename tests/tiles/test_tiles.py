"""Sky tiles: the layout, the tiles' grids, which exposures reach a tile, the tile index and the merged
catalog (the workflow's tiles: test_tiles_workflow.py)."""

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.table import QTable, Table

from image3.errors import InputError
from image3.resample.grid import Grid
from image3.tiles.layout import (
    check_tile_count,
    check_tile_settings,
    exposure_outline,
    merge_tile_catalogs,
    overlapping_exposures,
    owns,
    read_tile_index,
    tile_footprint,
    tile_grid,
    tile_layout,
    tile_named,
    write_tile_index,
)
from image3.wcs.geometry import Geometry
from image3.wcs.jwst_wcs import Pointing, imaging_wcs
from image3.wcs.tangent_plane import TanProjection

SHAPE = (530, 700)  # (ny, nx): neither a multiple of the interior


def _grid(shape=SHAPE):
    tan = TanProjection((150.0, 2.0), ((shape[1] - 1) / 2, (shape[0] - 1) / 2), 0.031, 25.0)
    return Grid(None, shape, 0.031, tan=tan)


def test_interiors_partition_the_grid_and_arrays_add_the_margins():
    tiles = tile_layout(SHAPE, size=256, margin=32)
    assert [t.name for t in tiles[:4]] == ["t0-0", "t1-0", "t2-0", "t3-0"] and len(tiles) == 4 * 3
    count = np.zeros(SHAPE, int)
    for t in tiles:
        count[slice(*t.interior_y), slice(*t.interior_x)] += 1
        assert t.x == (max(t.interior_x[0] - 32, 0), min(t.interior_x[1] + 32, SHAPE[1]))
        assert t.y == (max(t.interior_y[0] - 32, 0), min(t.interior_y[1] + 32, SHAPE[0]))
        assert max(t.shape) <= 256
        assert tile_named(SHAPE, t.name, size=256, margin=32) == t
    assert (count == 1).all()
    # Away from the grid's edges a tile is size x size.
    assert tile_named(SHAPE, "t1-1", size=256, margin=32).shape == (256, 256)


def test_each_position_is_owned_by_exactly_one_tile():
    tiles = tile_layout(SHAPE, size=256, margin=32)
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.uniform(-5, SHAPE[1] + 5, 5000), [191.5, 191.49, -0.5, 699.5, 383.5]])
    y = np.concatenate([rng.uniform(-5, SHAPE[0] + 5, 5000), [0.0, 0.0, 3.0, 3.0, 191.5]])
    owners = np.sum([owns(t, x, y) for t in tiles], axis=0)
    assert (owners == 1).all()
    t00, t10 = tiles[0], tiles[1]
    assert owns(t00, 191.49, 0.0) and owns(t10, 191.5, 0.0)


def test_tile_grid_is_the_product_grid_shifted_by_the_origin():
    grid = _grid()
    tile = tile_named(SHAPE, "t2-1", size=256, margin=32)
    sub = tile_grid(grid, tile)
    assert sub.shape == tile.shape
    rng = np.random.default_rng(2)
    x, y = rng.uniform(0, SHAPE[1], 100), rng.uniform(0, SHAPE[0], 100)
    ra, dec = grid.tan.pixel_to_world(x, y)
    tx, ty = sub.world_to_pixel(ra, dec)
    np.testing.assert_allclose(tx, x - tile.origin[0], atol=1e-8)
    np.testing.assert_allclose(ty, y - tile.origin[1], atol=1e-8)
    # pixel_to_world inverts world_to_pixel, and agrees with the gwcs of the same projection.
    px, py = grid.world_to_pixel(ra, dec)
    np.testing.assert_allclose(px, x, atol=1e-8)
    np.testing.assert_allclose(py, y, atol=1e-8)
    gra, gdec = grid.wcs(x, y, with_bounding_box=False)
    sep = SkyCoord(ra, dec, unit="deg").separation(SkyCoord(gra, gdec, unit="deg")).arcsec
    assert sep.max() < 1e-6
    corners = tile_footprint(grid, tile)
    cx, cy = grid.world_to_pixel(corners[:, 0], corners[:, 1])
    np.testing.assert_allclose(cx, np.array([0, 1, 1, 0]) * tile.shape[1] + tile.x[0] - 0.5, atol=1e-6)
    np.testing.assert_allclose(cy, np.array([0, 0, 1, 1]) * tile.shape[0] + tile.y[0] - 0.5, atol=1e-6)


def test_bad_settings_and_too_many_tiles_are_refused_naming_the_keys():
    for size, margin in ((64, 32), (50, 32), (64, -1)):
        with pytest.raises(InputError, match="tiles.size .* tiles.margin"):
            check_tile_settings(size=size, margin=margin)
    check_tile_count(SHAPE, size=256, margin=32, max_tiles=12)
    with pytest.raises(InputError, match=r"4 x 3 = 12 tiles .* tiles.max_tiles = 11"):
        check_tile_count(SHAPE, size=256, margin=32, max_tiles=11)
    with pytest.raises(InputError, match="no tile 't4-0'"):
        tile_named(SHAPE, "t4-0", size=256, margin=32)


def test_a_tile_reads_the_exposures_that_put_flux_into_it_and_no_others():
    """Two 300² detectors side by side at the grid's scale: each tile reads those whose pixels land
    in it (checked pixel by pixel against the exposure's own WCS), within one pixel plus the kernel
    reach."""
    shape = (300, 300)
    wcs = [
        imaging_wcs(shape, Pointing(ra_ref=150.0 + dra, dec_ref=2.0, roll_ref=0.0))
        for dra in (-0.0045, 0.0045)
    ]
    geometries = {f"e{k}": Geometry.from_wcs(w, shape) for k, w in enumerate(wcs)}
    grid_shape = (420, 700)
    grid = Grid(
        None,
        grid_shape,
        geometries["e0"].pixel_scale,
        tan=TanProjection(
            (150.0, 2.0), (349.5, 209.5), geometries["e0"].pixel_scale, geometries["e0"].rotation
        ),
    )
    outlines = {name: exposure_outline(g, grid) for name, g in geometries.items()}
    ones = dict.fromkeys(geometries, 1.0)
    y, x = np.mgrid[0:300:3, 0:300:3].astype(float)
    landing = {}
    for name, w in zip(geometries, wcs, strict=True):
        px, py = grid.world_to_pixel(*w(x, y, with_bounding_box=False))
        landing[name] = (px, py)
    for tile in tile_layout(grid_shape, size=160, margin=20):
        reads = overlapping_exposures(outlines, ones, tile)
        for name, (px, py) in landing.items():
            inside = (
                (px > tile.x[0] - 0.5)
                & (px < tile.x[1] - 0.5)
                & (py > tile.y[0] - 0.5)
                & (py < tile.y[1] - 0.5)
            )
            near = (px > tile.x[0] - 6) & (px < tile.x[1] + 5) & (py > tile.y[0] - 6) & (py < tile.y[1] + 5)
            if inside.any():
                assert name in reads, (tile.name, name)
            if name in reads:
                assert near.any(), (tile.name, name)


def test_tile_index_round_trip(tmp_path):
    grid = _grid()
    tiles = tile_layout(SHAPE, size=256, margin=32)[:3]
    exposures = {"t0-0": ["a", "b"], "t1-0": ["b"], "t2-0": ["b", "c", "d"]}
    path = tmp_path / "p_tiles.ecsv"
    write_tile_index(path, grid, tiles, exposures, size=256, margin=32)
    assert read_tile_index(path) == exposures
    table = Table.read(path, format="ascii.ecsv")
    assert list(table["n_exposures"]) == [2, 1, 3]
    assert table["footprint"].shape == (3, 4, 2) and table["footprint"].unit == "deg"
    assert list(table["x_start"]) == [0, 160, 352] and list(table["interior_x_stop"]) == [192, 384, 576]
    assert table.meta["size"] == 256 and table.meta["grid_shape"] == list(SHAPE)


def _catalog(x, y, grid, origin):
    table = QTable()
    table["label"] = np.arange(1, len(x) + 1)
    table["xcentroid"] = np.asarray(x, float) * u.pix
    table["ycentroid"] = np.asarray(y, float) * u.pix
    ra, dec = grid.tan.pixel_to_world(np.asarray(x) + origin[0], np.asarray(y) + origin[1])
    table["sky_centroid"] = SkyCoord(ra, dec, unit="deg")
    table["nn_label"] = np.zeros(len(x), int)
    table["nn_dist"] = np.zeros(len(x)) * u.pix
    table.meta["aperture_radii_pix"] = [2.0, 3.0, 4.0]
    return table


def test_merged_catalog_keeps_each_source_once_in_product_pixels():
    """Sources seen by two tiles (in the overlap) are kept by the one whose interior holds them."""
    grid = _grid()
    tiles = {t.name: t for t in tile_layout(SHAPE, size=256, margin=32)[:2]}
    t0, t1 = tiles["t0-0"], tiles["t1-0"]
    # product x: 100 (t0 only), 180 (both arrays, t0's interior), 200 (both, t1's), 300 (t1 only)
    product_x = np.array([100.0, 180.0, 200.0, 300.0])
    y = np.full(4, 50.0)
    in0 = product_x < t0.x[1] - 0.5
    in1 = product_x >= t1.x[0] - 0.5
    tables = {
        "t0-0": _catalog(product_x[in0] - t0.origin[0], y[in0], grid, t0.origin),
        "t1-0": _catalog(product_x[in1] - t1.origin[0], y[in1], grid, t1.origin),
    }
    merged = merge_tile_catalogs(tables, tiles)
    np.testing.assert_allclose(merged["xcentroid"].value, product_x)
    assert list(merged["tile"]) == ["t0-0", "t0-0", "t1-0", "t1-0"]
    assert list(merged["label"]) == [1, 2, 3, 4] and list(merged["tile_label"]) == [1, 2, 2, 3]
    assert list(merged["nn_label"]) == [2, 3, 2, 3]
    np.testing.assert_allclose(merged["nn_dist"].value, [80.0, 20.0, 20.0, 100.0])
    ra, dec = grid.tan.pixel_to_world(product_x, y)
    assert merged["sky_centroid"].separation(SkyCoord(ra, dec, unit="deg")).arcsec.max() < 1e-6
    assert set(merged.meta) == {"t0-0", "t1-0"}


def test_a_tile_whose_sources_are_all_in_its_margins_merges():
    """A tile holding sources only in its margins (each owned by its neighbour) adds no row, and the
    merged catalog's tile column stays text (bench/mosaic_scaling.py met this on a 24-tile mosaic)."""
    grid = _grid()
    tiles = {t.name: t for t in tile_layout(SHAPE, size=256, margin=32)[:2]}
    t0, t1 = tiles["t0-0"], tiles["t1-0"]
    product_x, y = np.array([100.0, 200.0]), np.full(2, 50.0)  # t0's interior, then t1's
    tables = {
        "t0-0": _catalog(product_x - t0.origin[0], y, grid, t0.origin),
        "t1-0": _catalog([200.0 - t1.origin[0]], [50.0], grid, t1.origin),
    }
    tables["t0-0"] = tables["t0-0"][1:]  # t0 sees only the source in its margin
    merged = merge_tile_catalogs(tables, tiles)
    assert list(merged["tile"]) == ["t1-0"] and merged["tile"].dtype.kind == "U"
