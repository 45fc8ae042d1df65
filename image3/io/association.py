"""Level-3 image association (``asn_type: image3``): products, their science members and file paths.

Member paths resolve relative to the folder holding the association file, as the official pipeline
does.
"""

import json
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from ..errors import InputError

__all__ = ["SIMULATED_POOL", "exposure_name", "load_association", "Product", "write_association"]

SIMULATED_POOL = "simulated_pool"
"""The pool name of the associations :func:`write_association` writes (the demo's)."""


@dataclass(frozen=True)
class Product:
    """One association product (one filter): its name and the science exposures' paths;
    ``asn_table`` the association's file name and ``asn_pool`` its pool (``asn_pool``, "" when
    the association names none), which the products record (ASNTABLE, ASNPOOL)."""

    name: str
    members: tuple[Path, ...]
    asn_id: str
    asn_table: str = ""
    asn_pool: str = ""

    @cached_property
    def exposures(self) -> tuple[str, ...]:
        """Exposure names: member file names without ``_cal.fits`` (or the last ``_suffix.fits``)."""
        return tuple(exposure_name(p) for p in self.members)

    def member(self, exposure) -> Path:
        """The member file of an exposure (a dictionary lookup: the DAG of a large association
        asks for every exposure's)."""
        return self._members_by_exposure[exposure]

    @cached_property
    def _members_by_exposure(self) -> dict:
        return dict(zip(self.exposures, self.members, strict=True))


# Product names and association ids become file and folder names under `outdir`: one plain name,
# no path separators, no leading dot (so no `..`), nothing a shell or Snakemake wildcard reads.
PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_+-]*(?:\.[A-Za-z0-9_+-]+)*")


def _check_plain_name(name, what: str, path) -> str:
    """``name`` if it is a plain file name (see ``PLAIN_NAME``), else an InputError naming ``what``."""
    if not isinstance(name, str) or not PLAIN_NAME.fullmatch(name):
        raise InputError(
            f"association {path}: {what} {name!r} is not a plain file name (letters, digits, "
            "'_', '-', '+' and single dots; no '/', '..' or leading dot): products are written "
            "under outdir by this name"
        )
    return name


def exposure_name(path) -> str:
    """``jw..._nrca1_cal.fits`` -> ``jw..._nrca1``."""
    stem = Path(path).name.removesuffix(".fits")
    return stem.rsplit("_", 1)[0] if "_" in stem else stem


def load_association(path) -> list[Product]:
    """Read an image3 association JSON and return its products with resolved member paths."""
    path = Path(path)
    try:
        asn = json.loads(path.read_text())
    except FileNotFoundError:
        raise InputError(f"association file not found: {path}") from None
    except json.JSONDecodeError as err:
        raise InputError(f"association {path} is not valid JSON: {err}") from None
    return _parse_association(asn, path)


def _parse_association(asn: dict, path: Path) -> list[Product]:
    """Validate the association dictionary ``asn`` read from ``path`` and build its products."""
    if not isinstance(asn, dict) or asn.get("asn_type") != "image3":
        got = asn.get("asn_type") if isinstance(asn, dict) else type(asn).__name__
        raise InputError(f"association {path}: asn_type must be 'image3', got {got!r}")
    asn_id = _check_plain_name(str(asn.get("asn_id") or "a3001"), "asn_id", path)
    products = asn.get("products")
    if not products:
        raise InputError(f"association {path}: no 'products'")
    result = []
    for k, product in enumerate(products):
        name = product.get("name")
        if not name:
            raise InputError(f"association {path}: products[{k}] has no 'name'")
        _check_plain_name(name, "product name", path)
        members = [m for m in product.get("members", []) if str(m.get("exptype", "")).lower() == "science"]
        if not members:
            raise InputError(f"association {path}: product {name!r} has no science members")
        paths = []
        for m in members:
            if "expname" not in m:
                raise InputError(f"association {path}: a member of {name!r} has no 'expname'")
            paths.append((path.parent / m["expname"]).resolve())
        names = [exposure_name(p) for p in paths]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise InputError(
                f"association {path}: product {name!r} lists an exposure twice: {', '.join(twice)}"
            )
        pool = str(asn.get("asn_pool") or "")
        result.append(Product(name, tuple(paths), asn_id, asn_table=path.name, asn_pool=pool))
    return result


def write_association(path, asn_id: str, product_name: str, expnames, program="01234"):
    """Write an image3 association with one product whose science members are ``expnames``."""
    asn = {
        "asn_type": "image3",
        "asn_rule": "candidate_Asn_Lv3Image",
        "asn_id": asn_id,
        "asn_pool": SIMULATED_POOL,
        "program": program,
        "version_id": None,
        "code_version": "image3-workflow simulator",
        "degraded_status": "No known degraded exposures in association.",
        "constraints": "simulated",
        "target": "1",
        "products": [
            {
                "name": product_name,
                "members": [{"expname": str(e), "exptype": "science"} for e in expnames],
            }
        ],
    }
    Path(path).write_text(json.dumps(asn, indent=4) + "\n")
