"""The _i2d and _crf products against the official format, keyword by keyword: the datamodel
schema's (stdatamodels' ImageModel) primary and SCI keywords that our products leave empty are
exactly a documented set of keywords we cannot fill, each with its reason; the _i2d's HDRTAB has
one row per input with its headers' values, and the blended keywords follow the schema's rules.

The inputs are three small simulated _cal files given a value for every schema keyword but those
stage 3 must make itself (STAGE3): so a keyword our products drop or do not make shows up as empty.
"""

import numpy as np
import pytest
import simdata
from astropy.io import fits
from stdatamodels import schema as dm_schema
from stdatamodels.jwst import datamodels

from image3.exposure_products.crf import write_crf
from image3.io.blend import blend_keywords
from image3.io.level2b import save_model
from image3.io.product_meta import SipSettings, record_image3_meta
from image3.io.provenance import software_revision, software_version
from image3.resample.i2d import build_i2d, record_inputs
from image3.resample.settings import DrizzleSettings
from image3.wcs.tangent_plane import native_pixel_scale

POOL = "jw01234_20261124t000000_pool.csv"
# Keywords stage 3 makes itself, which the inputs are not given: each must be filled by our code.
STAGE3 = {
    "CAL_VER": "the software that wrote the product",
    "CAL_VCS": "its git revision (the tests run from the checkout)",
    "ASNPOOL": "the association's pool",
    "ASNTABLE": "the association's file",
    "S_TWKREG": "tweakreg's status",
    "S_SKYMAT": "skymatch's status",
    "S_OUTLIR": "outlier detection's status",
    "S_RESAMP": "resample's status (_i2d)",
    "S_MTWCS": "assign_mtwcs's status (moving targets)",
    "BKGLEVEL": "skymatch's level",
    "BKGSUB": "whether it was subtracted",
    "BKGMETH": "skymatch's method",
    "NDRIZ": "exposures drizzled (_i2d)",
    "RESWHT": "drizzle weighting (_i2d)",
    "PIXFRAC": "drizzle pixfrac (_i2d)",
    "PXSCLRT": "pixel scale ratio (_i2d)",
}
# Schema keywords (keyword, header) our products leave empty, and why.
DETECTOR_FRAME = (
    "places the first input's detector aperture in the telescope frame, not the mosaic grid "
    "(the official resample removes it too)"
)
NOT_RESAMPLED = "the _crf is the exposure itself, not resampled: no drizzle parameters"
PC_CDELT = "the FITS WCS is PC + CDELT, as the official resample writes it"
NO_SKY = "the mosaic's background is not one exposure's level (the official resample records none)"
EMPTY_I2D = {
    **{
        (k, "SCI"): DETECTOR_FRAME
        for k in ("V2_REF", "V3_REF", "RA_REF", "DEC_REF", "ROLL_REF", "V3I_YANG", "VPARITY")
    },
    **{(k, "SCI"): PC_CDELT for k in ("CD1_1", "CD1_2", "CD2_1", "CD2_2")},
    **{(k, "PRIMARY"): NO_SKY for k in ("BKGLEVEL", "BKGSUB")},
    ("S_MTWCS", "PRIMARY"): "assign_mtwcs runs for moving targets only (these are fixed)",
}
EMPTY_CRF = {
    ("NDRIZ", "PRIMARY"): NOT_RESAMPLED,
    ("RESWHT", "PRIMARY"): NOT_RESAMPLED,
    ("PIXFRAC", "PRIMARY"): NOT_RESAMPLED,
    ("PXSCLRT", "PRIMARY"): NOT_RESAMPLED,
    ("S_MTWCS", "PRIMARY"): EMPTY_I2D[("S_MTWCS", "PRIMARY")],
}
# SIP keywords (A_ORDER, A_0_2, ..., AP_*, BP_*): a fresh fit of the final WCS writes the terms of
# its own degree; the ones above it stay empty (the _i2d's grid is a plain TAN: none at all).
SIP = ("A_", "B_", "AP_", "BP_")


def _schema_keywords():
    """(attribute, keyword, hdu, schema entry) of every ImageModel schema keyword in the primary
    and SCI headers."""
    found = []

    def visit(subschema, path, combiner, ctx, recurse):
        hdu = subschema.get("fits_hdu", "PRIMARY")
        if "fits_keyword" in subschema and hdu in ("PRIMARY", "SCI"):
            found.append((".".join(path), subschema["fits_keyword"], hdu, subschema))

    dm_schema.walk_schema(datamodels.ImageModel().schema, visit)
    return found


def _filler(entry, k):
    """A valid value of a schema entry's type, different for each input ``k``."""
    enums = [e["enum"] for e in [entry, *entry.get("anyOf", [])] if "enum" in e]
    if enums:
        choices = [v for v in enums[0] if v not in ("ANY", "N/A", "MULTIPLE")] or enums[0]
        return choices[0]
    return {"string": f"value{k}", "number": 1.5 + k, "integer": 1 + k, "boolean": bool(k % 2)}[entry["type"]]


def _keyword_values(path):
    """{(keyword, PRIMARY or SCI): value} of a file's primary and SCI headers (empty values left out)."""
    with fits.open(path) as hdul:
        return {
            (k, name): v
            for name, hdu in (("PRIMARY", hdul[0]), ("SCI", hdul["SCI"]))
            for k, v in hdu.header.items()
            if v is not None and not isinstance(v, fits.card.Undefined)
        }


@pytest.fixture(scope="module")
def products(tmp_path_factory):
    """Three simulated _cal files with every schema keyword but STAGE3 filled, their _crf files
    and their _i2d, written by the workflow's own functions."""
    out = tmp_path_factory.mktemp("keywords")
    sim = simdata.settings(shape=[128, 128], n_exposures=3)
    _, _, models, _ = simdata.simulate(sim)
    keywords = _schema_keywords()
    cals = []
    for k, model in enumerate(models):
        have = model.to_flat_dict(include_arrays=False)
        for attr, keyword, _, entry in keywords:
            if keyword not in STAGE3 and attr not in have and not keyword.startswith(SIP):
                model[attr] = _filler(entry, k)
        cals.append(out / f"jw0123400100{k + 1}_03101_00001_nrca1_cal.fits")
        save_model(model, cals[-1])
    sky = {"level": 0.25, "subtracted": False, "method": "match"}
    steps = {"tweakreg": "COMPLETE", "outlier_detection": "COMPLETE"}
    crfs = [out / p.name.replace("_cal", "_crf") for p in cals]
    for cal, crf in zip(cals, crfs, strict=True):
        write_crf(cal, crf, "x_asn.json", SipSettings(), asn_pool=POOL, sky=sky, steps=steps)
    arrays, grid = simdata.drizzle(models)
    reference = datamodels.open(cals[0])
    record_image3_meta(reference, "x_asn.json", asn_pool=POOL, steps=steps, sky=sky)
    scale = native_pixel_scale(models[0].meta.wcs, models[0].data.shape)
    i2d = build_i2d(arrays, grid, reference, DrizzleSettings(), 3, 300.0, scale, SipSettings())
    record_inputs(i2d, cals)
    i2d_path = out / "product_i2d.fits"
    save_model(i2d, i2d_path)
    return {"cal": cals, "crf": crfs, "i2d": i2d_path}


def _empty(path):
    """Schema keywords (primary and SCI) a product leaves empty, SIP terms left aside."""
    values = _keyword_values(path)
    keywords = {(kw, hdu) for _, kw, hdu, _ in _schema_keywords() if not kw.startswith(SIP)}
    return keywords - set(values)


def test_i2d_leaves_empty_only_what_it_cannot_fill(products):
    """Every schema keyword the inputs or stage 3 give is in the _i2d but the documented ones."""
    assert _empty(products["i2d"]) == set(EMPTY_I2D)


def test_crf_leaves_empty_only_what_it_cannot_fill(products):
    for crf in products["crf"]:
        assert _empty(crf) == set(EMPTY_CRF), crf.name


@pytest.mark.parametrize("kind", ["i2d", "crf"])
def test_products_record_the_software_and_the_association(products, kind):
    paths = products[kind] if kind == "crf" else [products[kind]]
    for path in paths:
        header = fits.getheader(path)
        assert header["CAL_VER"] == software_version() == "image3-workflow " + header["CAL_VER"].split()[1]
        assert header["CAL_VCS"] == software_revision()
        assert header["ASNPOOL"] == POOL and header["ASNTABLE"] == "x_asn.json"


def test_hdrtab_has_a_row_per_input_with_its_header_values(products):
    """HDRTAB: one row per input; every blend_table keyword an input has is a column holding its
    value; the blended keywords follow the schema's rules."""
    with fits.open(products["i2d"]) as hdul:
        table = hdul["HDRTAB"].data
        primary, sci = hdul[0].header, hdul["SCI"].header
    inputs = [{k: v for (k, hdu), v in _keyword_values(p).items()} for p in products["cal"]]
    assert len(table) == 3
    columns = [kw.keyword for kw in blend_keywords() if kw.table and any(kw.keyword in v for v in inputs)]
    assert list(table.columns.names) == columns
    for row, values in zip(table, inputs, strict=True):
        for name in columns:
            expected = values[name]
            got = row[name]
            if isinstance(expected, float):
                assert got == pytest.approx(expected, rel=1e-12), name
            else:
                assert (got == expected) or (str(got) == str(expected)) or (int(got) == int(expected)), name
    column = {name: [v[name] for v in inputs] for name in ("EXPSTART", "EXPEND", "EXPMID", "EFFEXPTM")}
    assert primary["EXPSTART"] == min(column["EXPSTART"]) < max(column["EXPSTART"])
    assert primary["EXPEND"] == max(column["EXPEND"])
    assert primary["EXPMID"] == pytest.approx(np.mean(column["EXPMID"]))
    assert primary["EFFEXPTM"] == pytest.approx(sum(column["EFFEXPTM"]))  # three exposures, one detector
    assert primary["NDRIZ"] == 3
    rules = {kw.keyword: kw.rule for kw in blend_keywords()}
    assert rules["EXPSTART"] == "min" and rules["EXPEND"] == "max" and rules["DETECTOR"] == "multi"
    with datamodels.open(products["i2d"]) as model:
        assert model.meta.resample.kernel == "square" and model.meta.resample.fillval == "NaN"
    assert "XPOSURE" in sci
