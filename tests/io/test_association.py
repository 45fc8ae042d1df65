"""Reading image3 associations."""

import json

import pytest

from image3.errors import InputError
from image3.io.association import exposure_name, load_association, write_association


def test_members_resolve_relative_to_the_association(tmp_path):
    (tmp_path / "sub").mkdir()
    path = tmp_path / "sub" / "x_asn.json"
    write_association(
        path, "o007", "jw1-o007_t001_nircam_clear-f200w", ["a_nrca1_cal.fits", "b_nrca1_cal.fits"]
    )
    (product,) = load_association(path)
    assert product.name == "jw1-o007_t001_nircam_clear-f200w"
    assert product.asn_id == "o007" and product.asn_table == "x_asn.json"
    assert product.members[0] == (tmp_path / "sub" / "a_nrca1_cal.fits").resolve()
    assert product.exposures == ("a_nrca1", "b_nrca1")
    assert exposure_name("jw01234001001_03101_00001_nrca1_cal.fits") == "jw01234001001_03101_00001_nrca1"


def test_only_science_members_are_used(tmp_path):
    asn = {
        "asn_type": "image3",
        "asn_id": "o001",
        "products": [
            {
                "name": "p",
                "members": [
                    {"expname": "a_cal.fits", "exptype": "science"},
                    {"expname": "b_cal.fits", "exptype": "background"},
                ],
            }
        ],
    }
    (tmp_path / "asn.json").write_text(json.dumps(asn))
    (product,) = load_association(tmp_path / "asn.json")
    assert product.exposures == ("a",)


@pytest.mark.parametrize(
    "content, message",
    [
        ("{not json", "not valid JSON"),
        (json.dumps({"asn_type": "image2", "products": []}), "asn_type must be 'image3'"),
        (json.dumps({"asn_type": "image3", "products": []}), "no 'products'"),
        (json.dumps({"asn_type": "image3", "products": [{"name": "p", "members": []}]}), "no science"),
    ],
)
def test_bad_associations_name_the_problem(tmp_path, content, message):
    path = tmp_path / "bad_asn.json"
    path.write_text(content)
    with pytest.raises(InputError, match=message) as err:
        load_association(path)
    assert str(path) in str(err.value)


@pytest.mark.parametrize(
    "name", ["../../x", "a/b", "/abs", "..", ".hidden", "a b", "x..y", "", 7, "p\\q", "a\nb"]
)
def test_product_names_that_would_leave_outdir_are_refused(tmp_path, name):
    asn = {"asn_type": "image3", "products": [{"name": name, "members": [{"expname": "a_cal.fits"}]}]}
    asn["products"][0]["members"][0]["exptype"] = "science"
    path = tmp_path / "x_asn.json"
    path.write_text(json.dumps(asn))
    match = "no 'name'" if name == "" else "not a plain file name"
    with pytest.raises(InputError, match=match) as err:
        load_association(path)
    assert str(path) in str(err.value)


@pytest.mark.parametrize("name", ["jw01234-o001_t001_nircam_clear-f150w", "p", "v1.2_f200w+f150w"])
def test_official_product_names_are_accepted(tmp_path, name):
    path = tmp_path / "x_asn.json"
    write_association(path, "o001", name, ["a_cal.fits"])
    assert load_association(path)[0].name == name


def test_asn_id_must_be_plain_too(tmp_path):
    path = tmp_path / "x_asn.json"
    write_association(path, "../o001", "p", ["a_cal.fits"])
    with pytest.raises(InputError, match="asn_id '../o001' is not a plain file name"):
        load_association(path)


def test_missing_association_file(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_association(tmp_path / "nope.json")
