"""The source catalog in the workflow: the demo's catalog against the simulator's cosmic rays, its
files, and the multi-band catalog of two filters on a common grid."""

import json

import numpy as np
import pytest
import simdata
from astropy.coordinates import SkyCoord
from astropy.table import Table
from crds_cache import ABVEGAOFFSET, APCORR, CONTEXT, write_cache
from scipy import ndimage
from stdatamodels.jwst import datamodels
from workflow_helpers import PRODUCT, SMALL, snakemake, user_asn

from image3.io.association import SIMULATED_POOL
from image3.io.level2b import save_model
from image3.io.provenance import software_revision, software_version
from image3.simulate import demo as demo_names
from image3.simulate.dataset import pixel_scale
from image3.simulate.reference_files import ABVEGA_OFFSETS, write_abvegaoffset, write_apcorr

pytestmark = pytest.mark.workflow


def _cosmic_ray_positions(demo):
    """Sky positions of every injected cosmic-ray pixel with S/N > 5 (through the true WCS)."""
    truth = json.loads((demo / "demo" / "truth" / "exposures.json").read_text())["exposures"]
    shape = tuple(SMALL["simulate"]["shape"])
    ra, dec = [], []
    for entry in truth:
        crs = Table.read(demo / "demo" / "truth" / f"{entry['name']}_cosmic_rays.ecsv")
        crs = crs[crs["snr"] > 5]
        r, d = simdata.true_wcs(entry, shape)(np.asarray(crs["x"], float), np.asarray(crs["y"], float))
        ra.append(r)
        dec.append(d)
    return SkyCoord(np.concatenate(ra), np.concatenate(dec), unit="deg")


def _edge_distance(i2d_path, table):
    """Distance (pixels) of each entry from the mosaic's edge or from pixels without data."""
    with datamodels.open(i2d_path) as i2d:
        has_data = np.pad(np.isfinite(i2d.data) & (i2d.wht > 0), 1)
    distance = ndimage.distance_transform_edt(has_data)[1:-1, 1:-1]
    ix = np.clip(np.round(table["xcentroid"].value).astype(int), 0, distance.shape[1] - 1)
    iy = np.clip(np.round(table["ycentroid"].value).astype(int), 0, distance.shape[0] - 1)
    return distance[iy, ix]


def _on_true_sky(positions, sources):
    """Catalog positions moved by the mosaic's common offset from the truth (relative alignment
    leaves every exposure off by the reference exposure's pointing error): the median offset of
    the catalog's nearest true sources within 1 arcsec."""
    idx, sep, _ = positions.match_to_catalog_sky(sources)
    near = sep.arcsec < 1.0
    dra, ddec = positions[near].spherical_offsets_to(sources[idx[near]])
    return positions.spherical_offsets_by(np.median(dra), np.median(ddec))


def test_demo_catalog_has_no_entry_on_a_cosmic_ray(demo):
    """With outlier detection on, no catalog entry lies within 0.1 arcsec of an injected cosmic ray
    unless a true source is within 0.15 arcsec of it. Entries within 5 pixels of the mosaic's edge
    are left out: a source cut by the edge has its centroid pulled away from its true position."""
    out = demo / "results" / PRODUCT
    table = Table.read(out / f"{PRODUCT}_cat.ecsv", format="ascii.ecsv")
    table = table[_edge_distance(out / f"{PRODUCT}_i2d.fits", table) > 5]
    scene = Table.read(demo / "demo" / "truth" / "scene.ecsv")
    sources = SkyCoord(scene["ra"], scene["dec"], unit="deg")
    crs = _cosmic_ray_positions(demo)
    assert len(crs) > 50 and len(table) > 50
    positions = _on_true_sky(table["sky_centroid"], sources)
    _, to_source, _ = positions.match_to_catalog_sky(sources)
    _, to_cr, _ = positions.match_to_catalog_sky(crs)
    on_cosmic_ray = (to_cr.arcsec < 0.1) & (to_source.arcsec > 0.15)
    assert not on_cosmic_ray.any(), table[on_cosmic_ray]["label", "xcentroid", "ycentroid", "isophotal_abmag"]


def test_demo_catalog_files(demo):
    out = demo / "results" / PRODUCT
    table = Table.read(out / f"{PRODUCT}_cat.ecsv", format="ascii.ecsv")
    assert table["aper_total_flux"].unit == "Jy" and isinstance(table["sky_centroid"], SkyCoord)
    with (
        datamodels.open(out / f"{PRODUCT}_segm.fits") as segm,
        datamodels.open(out / f"{PRODUCT}_i2d.fits") as i2d,
    ):
        assert isinstance(segm, datamodels.SegmentationMapModel)
        assert segm.data.shape == i2d.data.shape
        assert set(np.unique(segm.data)) - {0} == set(table["label"])
    _assert_provenance(table, out / f"{PRODUCT}_segm.fits", SIMULATED_POOL)
    regions = (out / f"{PRODUCT}_cat.reg").read_text().splitlines()
    assert regions[0].startswith("# Region file format: DS9") and "fk5" in regions
    assert sum(line.startswith("circle(") for line in regions) == len(table)
    assert (out / "qa" / f"{PRODUCT}_cat.png").stat().st_size > 10_000
    assert (demo / "demo" / "reference" / "image3sim_nircam_apcorr.fits").exists()


def _assert_provenance(table, segm_path, pool):
    """A catalog and its segmentation map record our software, its revision (the jobs' and this
    test's checkout may differ in being modified: ``-dirty``) and the pool(s)."""
    revision = software_revision().removesuffix("-dirty")
    expected = (software_version(), revision, pool)
    got = (
        table.meta.get("CAL_VER"),
        table.meta.get("CAL_VCS", "").removesuffix("-dirty"),
        table.meta.get("ASNPOOL"),
    )
    assert got == expected
    with datamodels.open(segm_path) as segm:
        meta = segm.meta
        got = (meta.calibration_software_version, meta.calibration_software_revision, meta.asn.pool_name)
    assert (got[0], got[1].removesuffix("-dirty"), got[2]) == expected


def _write_filter(folder, filter_name, observation_number):
    """Simulated _cal files of one filter (the SMALL demo's scene and dithers), named for their
    own observation so the two filters' exposures differ; returns the member file names."""
    sim = simdata.settings(**SMALL["simulate"], filter=filter_name)
    _, _, models, _ = simdata.simulate(sim)
    names = []
    for k, model in enumerate(models):
        name = f"jw01234{observation_number}001_03101_{k + 1:05d}_nrca1_cal.fits"
        model.meta.observation.observation_number = observation_number
        save_model(model, folder / name)
        names.append(name)
    return names


def test_common_grid_gives_one_multiband_catalog(tmp_path, monkeypatch):
    """Two filters, resample.grid common: both mosaics share one grid and the multi-band catalog
    carries each band's photometry for the same sources. With a CRDS cache (crds_cache, the
    simulator's reference files for both filters) each band records the files CRDS named and its
    Vega offset from them."""
    pytest.importorskip("crds", reason="the crds client (the test extra)")
    data = tmp_path / "data"
    data.mkdir()
    references = tmp_path / "references"
    references.mkdir()
    names = demo_names.reference_file_names()
    sim = simdata.settings(**SMALL["simulate"])
    write_apcorr(references / names["apcorr"], ["F150W", "F200W"], pixel_scale=pixel_scale(sim))
    write_abvegaoffset(references / names["abvegaoffset"], ["F150W", "F200W"])
    write_cache(tmp_path / "crds", monkeypatch, references=references)
    products = {
        demo_names.product_name(f): _write_filter(data, f, obs)
        for f, obs in (("F150W", "001"), ("F200W", "002"))
    }
    user_asn(data / "two_asn.json", products)
    asn = json.loads((data / "two_asn.json").read_text())
    (data / "two_asn.json").write_text(json.dumps({**asn, "asn_pool": "jw01234_20261208t000000_pool.csv"}))
    # Each product is aligned on its own, to its reference exposure: the same exposure in both
    # (the two filters share the dithers and pointing errors), so the mosaics share one frame.
    config = {
        **SMALL,
        "asn": str(data / "two_asn.json"),
        "resample": {"grid": "common"},
        "tweakreg": {"enforce_user_order": True},
    }
    snakemake(tmp_path, config=config)
    out = tmp_path / "results"
    shapes = set()
    for product in products:
        with datamodels.open(out / product / f"{product}_i2d.fits") as i2d:
            shapes.add(i2d.data.shape)
    assert len(shapes) == 1
    table = Table.read(out / "multiband" / "multiband_cat.ecsv", format="ascii.ecsv")
    assert len(table) > 50
    for band in ("f150w", "f200w"):
        assert table[f"{band}_aper_total_flux"].unit == "Jy"
        assert np.isfinite(table[f"{band}_aper_total_abmag"]).mean() > 0.8
    with datamodels.open(out / "multiband" / "multiband_segm.fits") as segm:
        assert segm.data.shape == shapes.pop()
    _assert_provenance(table, out / "multiband" / "multiband_segm.fits", "jw01234_20261208t000000_pool.csv")
    for band in ("f150w", "f200w"):
        meta = table.meta[band]
        assert (meta["crds_context"], meta["crds_apcorr"], meta["crds_abvegaoffset"]) == (
            CONTEXT,
            APCORR,
            ABVEGAOFFSET,
        )
        assert meta["abvega_offset"] == pytest.approx(ABVEGA_OFFSETS[band.upper()])
