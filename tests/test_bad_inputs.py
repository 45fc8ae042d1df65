"""Bad and awkward inputs, one table row each, as a user meets them: either the run stops with a message
naming the culprit (the member file, the product or the config key), a non-zero exit and no product
written, or the product is made and a warning names the exposure left out. Never a Python traceback,
and the input files are never modified.

One small simulated dataset (6 exposures of 256², module fixture) is copied and modified per case;
the cases that stop while the workflow loads take a few seconds each.
"""

import hashlib
import shutil
from dataclasses import dataclass, field

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from stdatamodels.jwst import datamodels
from workflow_helpers import snakemake, user_asn

from image3.simulate import demo as demo_names

pytestmark = pytest.mark.workflow

N = 6
SIM = {
    "simulate": {"shape": [256, 256], "n_exposures": N, "star_density": 3500, "galaxy_density": 200},
}
NAMES = demo_names.exposure_names(N)
FILES = [f"{n}_cal.fits" for n in NAMES]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """The simulated level-2b files (only the simulate rules run): {index: path}."""
    workdir = tmp_path_factory.mktemp("bad_inputs_sim")
    snakemake(workdir, *[f"demo/{f}" for f in FILES], config=SIM)
    return {k: workdir / "demo" / f for k, f in enumerate(FILES)}


def checksums(folder):
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()
    }


def copy(dataset, data, *indices):
    """Copy members ``indices`` of the dataset into ``data``; their file names."""
    for k in indices:
        shutil.copy(dataset[k], data)
    return [FILES[k] for k in indices]


def truncate(path, at):
    with open(path, "r+b") as f:
        f.truncate(at)


def asdf_span(path):
    """(start, size) in bytes of the ASDF extension's data."""
    with fits.open(path) as hdul:
        info = hdul["ASDF"].fileinfo()
    return info["datLoc"], info["datSpan"]


# --- the cases: each prepares ``data`` (a copy of some members, modified) and returns the products
# of the association (None: the case writes its own association file) and extra config.


def truncated_in_data(dataset, data):
    files = copy(dataset, data, 0, 1, 2)
    path = data / files[1]
    truncate(path, path.stat().st_size // 2)
    return {"p": files}, {}


def truncated_in_asdf(dataset, data):
    files = copy(dataset, data, 0, 1, 2)
    start, span = asdf_span(data / files[2])
    truncate(data / files[2], start + span // 2)
    return {"p": files}, {}


def truncated_in_a_header(dataset, data):
    files = copy(dataset, data, 0, 1)
    truncate(data / files[0], 2880 + 100)
    return {"p": files}, {}


def set_keyword(key, value, ext=0):
    def prepare(dataset, data):
        files = copy(dataset, data, 0, 1, 2)
        fits.setval(data / files[1], key, value=value, ext=ext)
        return {"p": files}, {}

    return prepare


def scale_pixel_area(dataset, data):
    files = copy(dataset, data, 0, 1, 2)
    area = fits.getval(data / files[2], "PIXAR_A2", ext=1)
    fits.setval(data / files[2], "PIXAR_A2", value=4 * area, ext=1)  # a long-wavelength pixel
    return {"p": files}, {}


def duplicated_member(dataset, data):
    files = copy(dataset, data, 0, 1)
    return {"p": [files[0], files[1], files[0]]}, {}


def name_outside_outdir(dataset, data):
    return {"../../x": copy(dataset, data, 0, 1)}, {}


def missing_member(dataset, data):
    return {"p": [*copy(dataset, data, 0), "jw01234001001_03101_00009_nrca1_cal.fits"]}, {}


def not_fits(dataset, data):
    (data / "notes_nrca1_cal.fits").write_text("not a FITS file at all\n" * 200)
    return {"p": [*copy(dataset, data, 0), "notes_nrca1_cal.fits"]}, {}


def three_d_sci(dataset, data):
    files = copy(dataset, data, 0, 1)
    with fits.open(data / files[1], mode="update") as hdul:
        hdul["SCI"].data = np.stack([hdul["SCI"].data] * 2)
    return {"p": files}, {}


def without_extension(ext):
    """Member 1 with its ``ext`` extension removed (its ASDF tree still names it)."""

    def prepare(dataset, data):
        files = copy(dataset, data, 0, 1)
        with fits.open(data / files[1]) as hdul:
            del hdul[ext]
            hdul.writeto(data / "edited.fits")
        (data / "edited.fits").replace(data / files[1])
        return {"p": files}, {}

    return prepare


def err_of_another_shape(dataset, data):
    files = copy(dataset, data, 0, 1)
    with fits.open(data / files[1], mode="update") as hdul:
        hdul["ERR"].data = hdul["ERR"].data[:100]
    return {"p": files}, {}


def corrupt_asdf(dataset, data):
    """The ASDF extension's bytes overwritten (same size: the headers cannot tell)."""
    files = copy(dataset, data, 0, 1)
    start, span = asdf_span(data / files[1])
    with open(data / files[1], "r+b") as f:
        f.seek(start)
        f.write(b"\xff" * span)
    return {"p": files}, {}


def bad_json(dataset, data):
    copy(dataset, data, 0)
    (data / "x_asn.json").write_text('{"asn_type": "image3", "products": [')
    return None, {}


def no_products(dataset, data):
    copy(dataset, data, 0)
    (data / "x_asn.json").write_text('{"asn_type": "image3", "asn_id": "o009", "products": []}')
    return None, {}


def config_case(**config):
    def prepare(dataset, data):
        return {"p": copy(dataset, data, 0, 1)}, config

    return prepare


def unwritable_outdir(dataset, data):
    (data.parent / "afile").write_text("a file, not a folder\n")
    return {"p": copy(dataset, data, 0, 1)}, {"outdir": str(data.parent / "afile" / "results")}


def refcat_without_rows(dataset, data):
    Table({"ra": [np.nan, np.nan], "dec": [np.nan, 95.0]}).write(data.parent / "refcat.ecsv")
    return {"p": copy(dataset, data, 0, 1)}, {"tweakreg": {"abs_refcat": str(data.parent / "refcat.ecsv")}}


@dataclass
class Stops:
    """A case where the run stops: each of ``culprits`` appears in what the user sees."""

    name: str
    prepare: object
    culprits: list = field(default_factory=list)


STOPS = [
    Stops("truncated_in_data", truncated_in_data, [FILES[1], "truncated or corrupt", "(AREA)"]),
    Stops("truncated_in_asdf", truncated_in_asdf, [FILES[2], "truncated or corrupt", "(ASDF)"]),
    Stops("truncated_in_a_header", truncated_in_a_header, [FILES[0], "ends inside the header of HDU 0"]),
    Stops(
        "filter_differs",
        set_keyword("FILTER", "F200W"),
        [FILES[0], FILES[1], "FILTER = F200W", "FILTER = F150W"],
    ),
    Stops("pupil_differs", set_keyword("PUPIL", "F162M"), [FILES[1], "disagree on PUPIL", "F162M"]),
    Stops("instrument_differs", set_keyword("INSTRUME", "NIRISS"), [FILES[1], "disagree on INSTRUME"]),
    Stops("pixel_scale_differs", scale_pixel_area, [FILES[2], "pixel scales differ"]),
    Stops("duplicated_member", duplicated_member, ["lists an exposure twice", NAMES[0]]),
    Stops("product_name_outside_outdir", name_outside_outdir, ["'../../x' is not a plain file name"]),
    Stops("missing_member", missing_member, ["jw01234001001_03101_00009_nrca1_cal.fits", "not found"]),
    Stops("not_fits", not_fits, ["notes_nrca1_cal.fits", "not a FITS file"]),
    Stops("bad_json", bad_json, ["x_asn.json", "not valid JSON"]),
    Stops("no_products", no_products, ["x_asn.json", "no 'products'"]),
    Stops("unknown_config_key", config_case(resample={"pixfrak": 0.5}), ["pixfrak"]),
    Stops("wrong_config_type", config_case(resample={"pixfrac": "big"}), ["pixfrac", "big"]),
    Stops("unwritable_outdir", unwritable_outdir, ["outdir", "afile", "is not a folder"]),
    Stops("three_d_sci", three_d_sci, [FILES[1], "not a level-2b calibrated image", "SCI is 3-D"]),
    *(
        Stops(f"no_{ext.lower()}", without_extension(ext), [FILES[1], f"no {ext} extension"])
        for ext in ("ERR", "DQ", "ASDF")
    ),
    Stops("no_area", without_extension("AREA"), [FILES[1], "extension(s) AREA, which it lacks"]),
    # A variance may be absent (test_variances_absent_or_misshaped_go_on), but not named by the ASDF
    # tree while missing from the file: the datamodel cannot be opened.
    Stops("var_lost", without_extension("VAR_FLAT"), [FILES[1], "extension(s) VAR_FLAT, which it lacks"]),
    Stops("err_of_another_shape", err_of_another_shape, [FILES[1], "ERR is 256 x 100, its SCI 256 x 256"]),
    Stops(
        "corrupt_asdf", corrupt_asdf, [FILES[1], "truncated or corrupt", "its ASDF extension cannot be read"]
    ),
    # This stops in the first job that reads the culprit, so its message is in that job's log.
    Stops(
        "refcat_without_rows", refcat_without_rows, ["tweakreg.abs_refcat", "refcat.ecsv", "no usable rows"]
    ),
]


def run_case(tmp_path, dataset, prepare, *args):
    data = tmp_path / "data"
    data.mkdir()
    products, config = prepare(dataset, data)
    if products is not None:
        user_asn(data / "x_asn.json", products)
    before = checksums(data)
    result = snakemake(tmp_path, *args, config={**config, "asn": str(data / "x_asn.json")}, check=False)
    assert checksums(data) == before, "an input file was modified"
    logs = tmp_path / "results" / "logs"
    seen = result.stdout + result.stderr + "".join(p.read_text() for p in logs.rglob("*.log"))
    return result, seen


@pytest.mark.parametrize("case", STOPS, ids=[c.name for c in STOPS])
def test_bad_input_stops_with_a_message_naming_it(case, dataset, tmp_path):
    result, seen = run_case(tmp_path, dataset, case.prepare)
    assert result.returncode != 0, seen[-3000:]
    for culprit in case.culprits:
        assert culprit in seen, f"{culprit!r} not in:\n{seen[-3000:]}"
    assert "Traceback" not in seen, seen[-5000:]
    products = ("_i2d.fits", "_crf.fits", "_segm.fits")
    made = [p for p in tmp_path.rglob("*") if p.name.endswith(products) or p.name == "p_cat.ecsv"]
    assert not made, made
    assert not [p for p in tmp_path.rglob("*") if ".tmp" in p.name]
    assert not (tmp_path.parent / "x").exists()  # "../../x" under outdir: nothing written above


# --- awkward exposures: left out (or kept unaligned) with a warning naming them, the mosaic made.
GOOD = (0, 1, 2)


def all_nan(path):
    with fits.open(path, mode="update") as hdul:
        hdul["SCI"].data[:] = np.nan


def all_do_not_use(path):
    with fits.open(path, mode="update") as hdul:
        hdul["DQ"].data[:] = 1  # DO_NOT_USE


def no_sources(path):
    """Flat sky and noise: nothing to align on."""
    with fits.open(path, mode="update") as hdul:
        sci = hdul["SCI"].data
        sky = np.nanmedian(sci)
        hdul["SCI"].data = (
            sky + np.random.default_rng(1).normal(0, 0.01 * abs(sky) + 1e-4, sci.shape)
        ).astype(np.float32)


AWKWARD = {3: all_nan, 4: all_do_not_use, 5: no_sources}
WARNINGS = {
    "all_nan_sci": (3, "no valid pixel (SCI all NaN or every pixel DO_NOT_USE): left out of the product"),
    "no_valid_pixel_after_dq": (
        4,
        "no valid pixel (SCI all NaN or every pixel DO_NOT_USE): left out of the product",
    ),
    "no_sources": (5, "its WCS is left as it was"),
}


@pytest.fixture(scope="module")
def awkward_run(dataset, tmp_path_factory):
    """One run of a product of three good exposures and the three awkward ones (first the one
    without sources), shared by the rows of test_awkward_exposure_is_named_and_the_mosaic_made."""
    workdir = tmp_path_factory.mktemp("awkward")
    data = workdir / "data"
    data.mkdir()
    files = copy(dataset, data, *range(N))
    for k, spoil in AWKWARD.items():
        spoil(data / files[k])
    order = [files[5], files[0], files[3], files[1], files[4], files[2]]
    user_asn(data / "x_asn.json", {"awkward": order})
    before = checksums(data)
    result = snakemake(workdir, config={"asn": str(data / "x_asn.json")}, check=False)
    logs = workdir / "results" / "logs"
    seen = result.stdout + result.stderr + "".join(p.read_text() for p in logs.rglob("*.log"))
    return workdir, result, seen, before, checksums(data)


@pytest.mark.parametrize("case", list(WARNINGS))
def test_awkward_exposure_is_named_and_the_mosaic_made(case, awkward_run):
    workdir, result, seen, before, after = awkward_run
    assert result.returncode == 0, seen[-5000:]
    assert before == after, "an input file was modified"
    assert "Traceback" not in seen
    k, warning = WARNINGS[case]
    assert any(NAMES[k] in line and warning in line for line in seen.splitlines()), seen[-5000:]
    out = workdir / "results" / "awkward"
    assert (out / "awkward_cat.ecsv").exists() and (out / f"{NAMES[k]}_o009_crf.fits").exists()
    with fits.open(out / "awkward_i2d.fits") as hdul:
        assert np.isfinite(hdul["SCI"].data).mean() > 0.5
        con = hdul["CON"].data
    # The mosaic's context: the exposures without a valid pixel (members 3 and 5 in the association's
    # order) contributed no pixel; the others did.
    contributed = [bool(np.any(con[0] & (1 << b))) for b in range(N)]
    assert contributed == [True, True, False, True, False, True]
    report = Table.read(out / "awkward_tweakreg.ecsv")
    assert not report["aligned"][0] and report["aligned"][[1, 3, 5]].all()


def test_variances_absent_or_misshaped_go_on(dataset, tmp_path):
    """As the official steps accept them: a member written without VAR_FLAT and one whose VAR_RNOISE
    is 10 x 10 are drizzled with a warning naming each; the mosaic's VAR_FLAT (and ERR) is NaN
    exactly where the first contributed alone or with others, its VAR_RNOISE where the second did,
    and finite where neither did; no traceback."""
    data = tmp_path / "data"
    data.mkdir()
    files = copy(dataset, data, 0, 1, 2)
    with datamodels.open(data / files[1]) as model:
        del model.var_flat
        model.save(data / "edited.fits")
    (data / "edited.fits").replace(data / files[1])
    with fits.open(data / files[2], mode="update") as hdul:
        hdul["VAR_RNOISE"].data = np.ones((10, 10), np.float32)
    user_asn(data / "x_asn.json", {"p": files})
    result = snakemake(tmp_path, config={"asn": str(data / "x_asn.json")}, check=False)
    logs = tmp_path / "results" / "logs"
    seen = result.stdout + result.stderr + "".join(p.read_text() for p in logs.rglob("*.log"))
    assert result.returncode == 0, seen[-5000:]
    assert "Traceback" not in seen
    assert f"{data / files[1]}: VAR_FLAT is absent or empty" in seen
    assert f"{data / files[2]}: VAR_RNOISE is of shape (10, 10)" in seen
    with fits.open(tmp_path / "results" / "p" / "p_i2d.fits") as hdul:
        con, sci = hdul["CON"].data[0], hdul["SCI"].data
        var_flat, var_rnoise, err = hdul["VAR_FLAT"].data, hdul["VAR_RNOISE"].data, hdul["ERR"].data
    has_data = np.isfinite(sci)
    first, second = (con & 2 > 0) & has_data, (con & 4 > 0) & has_data
    assert first.any() and second.any() and (has_data & ~first & ~second).any()
    assert np.isnan(var_flat[first]).all() and np.isfinite(var_flat[has_data & ~first]).all()
    assert np.isnan(var_rnoise[second]).all() and np.isfinite(var_rnoise[has_data & ~second]).all()
    assert np.isnan(err[first | second]).all() and np.isfinite(err[has_data & ~first & ~second]).all()


def test_keep_going_one_bad_product_leaves_the_other_complete(dataset, tmp_path):
    """Product `bad` fails in its jobs (a corrupt ASDF extension); under --keep-going `good` is
    complete, every product of it, and no input changed."""
    data = tmp_path / "data"
    data.mkdir()
    files = copy(dataset, data, 0, 1, 2)
    corrupt = "jw01234001001_03101_00003_nrca1_cal.fits"
    start, span = asdf_span(data / corrupt)
    with open(data / corrupt, "r+b") as f:
        f.seek(start)
        f.write(b"\xff" * span)
    user_asn(data / "x_asn.json", {"good": files[:2], "bad": [files[0], corrupt]})
    before = checksums(data)
    result = snakemake(tmp_path, "--keep-going", config={"asn": str(data / "x_asn.json")}, check=False)
    assert checksums(data) == before
    assert result.returncode != 0
    good = tmp_path / "results" / "good"
    expected = ["good_i2d.fits", "good_cat.ecsv", "good_segm.fits", "good_cat.reg", "good_tweakreg.ecsv"]
    expected += [f"{NAMES[k]}_o009_crf.fits" for k in (0, 1)]
    expected += [f"qa/good_{q}.png" for q in ("i2d", "tweakreg", "skymatch", "outliers", "cat")]
    assert [f for f in expected if not (good / f).exists()] == []
    bad = tmp_path / "results" / "bad"
    assert not list(bad.glob("*_i2d.fits")) and not list(bad.glob("*_crf.fits"))
    assert not [p for p in tmp_path.rglob("*") if ".tmp" in p.name]
    logs = "".join(p.read_text() for p in (tmp_path / "results" / "logs" / "bad").rglob("*.log"))
    assert corrupt in logs and "its ASDF extension cannot be read" in logs
