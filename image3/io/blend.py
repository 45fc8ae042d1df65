"""The official model blender's metadata for a product made of several inputs (the ``_i2d``):
primary and SCI keywords blended over the inputs by the datamodel schema's ``blend_rule`` (EXPSTART
the earliest, EXPEND the latest, DETECTOR the common value or MULTIPLE, exposure times summed, ...)
and the ``HDRTAB`` table, one row per input with its value of every keyword the schema marks
``blend_table`` (how archive users see each exposure's dates, exposure times and settings).

The rules and columns are read from the installed stdatamodels' ImageModel schema, so they follow
the official format's version; the values from the inputs' FITS headers (astropy.io.fits, headers
only: no datamodel is opened per input).
"""

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from .exposure_groups import GROUP_KEYS, group_id

__all__ = ["BLEND_RULES", "BlendKeyword", "blend_keywords", "blend_values", "header_table", "read_blend_row"]


def _multi(values):
    """The common value, or MULTIPLE."""
    distinct = set(values)
    return distinct.pop() if len(distinct) == 1 else "MULTIPLE"


def _wheeltol(values):
    """A filter or pupil wheel's position: outside tolerance if any input was."""
    outside = "outside calibration tolerance"
    return outside if outside in values else "within commanded tolerance"


BLEND_RULES = {
    "multi": _multi,
    "mean": lambda v: float(np.mean(v)),
    "sum": lambda v: float(np.sum(v)),
    "max": max,
    "min": min,
    # ISO dates and times: lexical order is time order
    "mintime": min,
    "maxtime": max,
    "mindate": min,
    "maxdate": max,
    "mindatetime": min,
    "maxdatetime": max,
    "wheeltol": _wheeltol,
}
"""The schema's blend rules (``first``, the first input's value, is the default and not listed)."""

# Attributes the product sets itself, never blended (as the official resample's blender ignores them).
_NOT_BLENDED = (
    "meta.wcs",
    "meta.filename",
    "meta.photometry.pixelarea_steradians",
    "meta.photometry.pixelarea_arcsecsq",
)


@dataclass(frozen=True)
class BlendKeyword:
    """A schema entry the blender uses: its datamodel attribute (dotted), FITS keyword and HDU
    (PRIMARY or SCI), schema type, ``blend_rule`` (None: the first input's value) and whether it
    is an HDRTAB column."""

    attr: str
    keyword: str
    hdu: str
    kind: str
    rule: str | None
    table: bool


@cache
def blend_keywords() -> tuple[BlendKeyword, ...]:
    """The ImageModel schema's entries with a ``blend_rule`` or ``blend_table``, in schema order
    (the official blender's walk: ``meta`` attributes only, none inside arrays)."""
    from stdatamodels import schema as dm_schema
    from stdatamodels.jwst import datamodels

    found = []

    def visit(subschema, path, combiner, ctx, recurse):
        if len(path) <= 1 or path[0] != "meta" or "items" in path or subschema.get("properties"):
            return
        if "fits_keyword" not in subschema or subschema.get("type") == "array":
            return
        rule, table = subschema.get("blend_rule"), bool(subschema.get("blend_table"))
        if rule or table:
            found.append(
                BlendKeyword(
                    ".".join(path),
                    subschema["fits_keyword"],
                    subschema.get("fits_hdu", "PRIMARY"),
                    str(subschema.get("type", "string")),
                    rule,
                    table,
                )
            )

    dm_schema.walk_schema(datamodels.ImageModel().schema, visit)
    return tuple(found)


def read_blend_row(path) -> tuple[dict, str]:
    """One input's values of the blended keywords, read from its primary and SCI headers
    (``{attribute: value}``, keywords it lacks left out), and its exposure group
    (:func:`~image3.io.exposure_groups.group_id`, from the same values)."""
    from astropy.io import fits

    with fits.open(path) as hdul:
        headers = {"PRIMARY": hdul[0].header, "SCI": hdul["SCI"].header}
        row = {}
        for kw in blend_keywords():
            value = headers[kw.hdu].get(kw.keyword) if kw.hdu in headers else None
            if value is not None and not isinstance(value, fits.card.Undefined):
                row[kw.attr] = value
    observation = {k: row.get(f"meta.observation.{k}") for k in GROUP_KEYS}
    return row, group_id(observation, Path(path).name)


def blend_values(rows, groups) -> dict:
    """``{attribute: blended value}`` over the inputs' ``rows`` (:func:`read_blend_row`) by each
    keyword's rule, for the keywords at least one input has. ``sum`` (the exposure times) counts
    each exposure once: the first input of each of ``groups`` (the detectors of one exposure share
    its times), as the official resample's totals do."""
    firsts = sorted({g: k for k, g in reversed(list(enumerate(groups)))}.values())
    blended = {}
    for kw in blend_keywords():
        if kw.rule in (None, "first") or kw.attr in _NOT_BLENDED:
            continue
        chosen = [rows[k] for k in firsts] if kw.rule == "sum" else rows
        values = [row[kw.attr] for row in chosen if kw.attr in row]
        if values:
            blended[kw.attr] = BLEND_RULES[kw.rule](values)
    return blended


def header_table(rows) -> np.ndarray:
    """The HDRTAB table: a structured array with one row per input and a column (named by its FITS
    keyword) for each ``blend_table`` keyword that at least one input has. A value an input lacks
    is "" in a text column and NaN in a numeric one (an integer column with a gap becomes float);
    booleans are int8 (0/1), as the official blender stores them."""
    columns, names = [], []
    for kw in blend_keywords():
        if not kw.table or not any(kw.attr in row for row in rows):
            continue
        if kw.kind == "string":
            column = np.array([str(row.get(kw.attr, "")) for row in rows])
        else:
            column = np.array([row.get(kw.attr, np.nan) for row in rows])
            if column.dtype == bool:
                column = column.astype(np.int8)
        columns.append(column)
        names.append(kw.keyword)
    return np.rec.fromarrays(columns, names=names)
