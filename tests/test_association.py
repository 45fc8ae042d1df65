"""Reading image3 associations."""

import json

import pytest

from image3.association import exposure_name, load_association, write_association
from image3.errors import InputError


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


def test_missing_association_file(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_association(tmp_path / "nope.json")
