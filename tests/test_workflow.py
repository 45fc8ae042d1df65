"""The Snakemake workflow end to end on a small demo: products, bad input, report (reruns: test_reruns.py)."""

import shutil

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS as FitsWCS
from stdatamodels.jwst import datamodels
from workflow_helpers import (
    PRODUCT,
    SMALL,
    assert_same_arrays,
    copy_workdir,
    merged,
    product_files,
    snakemake,
    user_asn,
)

from image3.simulate import demo as demo_names

pytestmark = pytest.mark.workflow


def test_demo_products_open_with_stdatamodels_and_astropy(demo):
    out = demo / "results" / PRODUCT
    i2d = out / f"{PRODUCT}_i2d.fits"
    with datamodels.open(i2d) as model:
        assert isinstance(model, datamodels.ImageModel)
        assert model.meta.bunit_data == "MJy/sr"
        for name in ("data", "err", "wht", "con", "var_poisson", "var_rnoise", "var_flat"):
            assert getattr(model, name).shape[-2:] == model.data.shape
        assert model.meta.resample.pointings == 4
        gwcs = model.meta.wcs
    with fits.open(i2d) as hdul:
        assert {"SCI", "ERR", "WHT", "CON", "VAR_POISSON", "VAR_RNOISE", "VAR_FLAT"} <= {h.name for h in hdul}
        fits_wcs = FitsWCS(hdul["SCI"].header)
    ny, nx = model.data.shape
    y, x = np.mgrid[0:ny:20, 0:nx:20].astype(float)
    xf, yf = fits_wcs.all_world2pix(*gwcs(x, y), 0)
    assert np.hypot(xf - x, yf - y).max() < 0.01
    crfs = sorted(out.glob("*_o001_crf.fits"))
    assert [p.name for p in crfs] == [f"{e}_o001_crf.fits" for e in demo_names.exposure_names(4)]
    with datamodels.open(crfs[0]) as crf:
        assert crf.meta.filename == crfs[0].name
        assert crf.meta.background.subtracted is False
        assert crf.meta.asn.table_name == demo_names.association_name()
        assert fits.getheader(crfs[0], "SCI")["CTYPE1"] == "RA---TAN-SIP"
    assert (out / "qa" / f"{PRODUCT}_i2d.png").stat().st_size > 10_000
    assert (out / "qa" / f"{PRODUCT}_skymatch.png").stat().st_size > 10_000
    assert (demo / "demo" / demo_names.association_name()).exists()
    assert list((demo / "results" / "benchmarks" / PRODUCT).glob("resample.tsv"))


def test_exposure_with_too_few_sources_is_flagged_and_the_run_completes(tmp_path):
    """A custom catalog of 5 sources for one exposure: it keeps its WCS, the report flags it."""
    names = demo_names.exposure_names(4)
    Table({"x": [10.0, 50.0, 90.0, 130.0, 170.0], "y": [20.0, 160.0, 40.0, 300.0, 80.0]}).write(
        tmp_path / "five.ecsv"
    )
    config = {
        **SMALL,
        "tweakreg": {"use_custom_catalogs": True, "custom_catalogs": {names[2]: str(tmp_path / "five.ecsv")}},
    }
    snakemake(tmp_path, config=config)
    out = tmp_path / "results" / PRODUCT
    report = Table.read(out / f"{PRODUCT}_tweakreg.ecsv")
    assert list(report["aligned"]) == [True, True, False, True]
    assert "FAILED" in report["status"][2]
    assert (out / f"{PRODUCT}_i2d.fits").exists()
    log = (tmp_path / "results" / "logs" / PRODUCT / "tweakreg.log").read_text()
    assert "WARNING" in log and names[2] in log


def test_report_has_the_mosaic_preview(demo):
    snakemake(demo, "--report", "report.html")
    html = (demo / "report.html").read_text(errors="ignore")
    for figure in ("i2d", "tweakreg", "skymatch", "outliers", "cat"):
        assert f"{PRODUCT}_{figure}.png" in html


def test_missing_member_stops_with_its_name(demo, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    user_asn(data / "x_asn.json", {"p1": ["nowhere_nrca1_cal.fits"]})
    result = snakemake(tmp_path, config={"asn": str(data / "x_asn.json")}, check=False)
    assert result.returncode != 0
    assert "nowhere_nrca1_cal.fits" in result.stderr + result.stdout
    assert not (tmp_path / "results").exists()


def test_product_name_outside_outdir_stops_at_load(tmp_path):
    """A product named ``../../x`` would write two folders above outdir: refused, naming it."""
    run_dir = tmp_path / "a" / "b"
    run_dir.mkdir(parents=True)
    user_asn(run_dir / "x_asn.json", {"../../x": ["e1_nrca1_cal.fits"]})
    result = snakemake(run_dir, config={"asn": str(run_dir / "x_asn.json")}, check=False)
    assert result.returncode != 0
    assert "'../../x' is not a plain file name" in result.stderr + result.stdout
    assert "Traceback" not in result.stderr + result.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a"]
    assert not (run_dir / "results").exists()


def test_unknown_config_key_is_named(tmp_path):
    result = snakemake(tmp_path, config={"resample": {"pixfrak": 0.5}}, check=False)
    assert result.returncode != 0
    assert "pixfrak" in result.stderr + result.stdout
    result = snakemake(tmp_path, config={"resample": {"pixfrac": "big"}}, check=False)
    assert result.returncode != 0
    assert "big" in result.stderr + result.stdout and "pixfrac" in result.stderr + result.stdout


def test_non_level2b_file_fails_its_product_only(demo, tmp_path):
    """A file that is not a level-2b image stops its product with a message naming it and leaves
    no partial product; under --keep-going the other product is still made."""
    data = tmp_path / "data"
    data.mkdir()
    names = demo_names.exposure_names(4)
    for name in names[:2]:
        shutil.copy(demo / "demo" / f"{name}_cal.fits", data)
    ramp = datamodels.RampModel((1, 2, 32, 32))
    ramp.save(data / "jw09999001001_02101_00001_nrca1_uncal.fits")
    user_asn(
        data / "two_asn.json",
        {
            "good": [f"{n}_cal.fits" for n in names[:2]],
            "bad": [f"{names[0]}_cal.fits", "jw09999001001_02101_00001_nrca1_uncal.fits"],
        },
    )
    result = snakemake(tmp_path, "--keep-going", config={"asn": str(data / "two_asn.json")}, check=False)
    assert result.returncode != 0
    logs = "".join(p.read_text() for p in (tmp_path / "results" / "logs" / "bad").rglob("*.log"))
    assert "jw09999001001_02101_00001_nrca1_uncal.fits" in logs and "not a level-2b" in logs
    assert (tmp_path / "results" / "good" / "good_i2d.fits").exists()
    bad = tmp_path / "results" / "bad"
    assert not (bad / "bad_i2d.fits").exists()
    assert not (bad / "jw09999001001_02101_00001_nrca1_o009_crf.fits").exists()
    assert not [p for p in bad.rglob("*") if ".tmp" in p.name]


def test_the_job_server_changes_no_product(demo, tmp_path):
    """The demo's jobs ran in the job server; the mosaic made again in a job's own process is the same."""
    in_server = "running in the workflow's job server"
    assert "listening on" in (demo / "results" / "logs" / "job_server.log").read_text()
    resample_log = f"results/logs/{PRODUCT}/resample.log"
    assert in_server in (demo / resample_log).read_text()
    workdir = copy_workdir(demo, tmp_path / "work")
    i2d = product_files(workdir)[0]
    config = merged(SMALL, {"job_server": False})
    snakemake(workdir, str(i2d.relative_to(workdir)), "--forcerun", "resample", config=config)
    assert in_server not in (workdir / resample_log).read_text()
    assert_same_arrays(product_files(demo)[0], i2d)
