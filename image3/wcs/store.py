"""The side file that carries each exposure's current WCS between steps.

A zip archive (stored, not compressed) of one standard ASDF file per exposure, ``<exposure>.asdf``
with the tree ``{"wcs": gwcs}``, and ``extras.asdf`` with any further entries (e.g. a moving
target's ``mt_avra``): written by the alignment step of a product and read by every later step
instead of copying whole exposures. A per-exposure job reads its own member alone, so its cost does
not grow with the number of exposures; ``unzip`` gives files any ASDF reader opens. These work files
skip the ASDF schema validation (most of a write's and a read's time): the products that carry the
WCS (``_crf``, ``_i2d``) are validated when saved.
"""

import io
import zipfile

import asdf

from ..errors import InputError
from ..io._asdf import unvalidated
from ..io.atomic import atomic_path

__all__ = ["load_wcs_entry", "load_wcs_extras", "load_wcs_record", "load_wcs_set", "save_wcs_set"]

_EXTRAS = "extras.asdf"


def save_wcs_set(path, wcs_by_exposure: dict, **extra):
    """Write ``{exposure: gwcs}`` (and any ``extra`` entries) to ``path`` atomically."""
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as archive:
        for name, wcs in wcs_by_exposure.items():
            archive.writestr(f"{name}.asdf", _asdf_bytes({"wcs": wcs}))
        archive.writestr(_EXTRAS, _asdf_bytes(dict(extra)))


def load_wcs_set(path) -> dict:
    """Read ``{exposure: gwcs}``, in the order written, from a file of :func:`save_wcs_set`."""
    with _open_archive(path) as archive:
        names = [n.removesuffix(".asdf") for n in archive.namelist() if n != _EXTRAS]
        return {name: _read_member(archive, f"{name}.asdf")["wcs"] for name in names}


def load_wcs_entry(path, exposure):
    """The gwcs of one exposure from a file of :func:`save_wcs_set` (reads that member alone)."""
    with _open_archive(path) as archive:
        try:
            return _read_member(archive, f"{exposure}.asdf")["wcs"]
        except KeyError:
            raise InputError(f"{path}: no WCS for exposure {exposure}") from None


def load_wcs_extras(path) -> dict:
    """The entries :func:`save_wcs_set` wrote beside the WCS (e.g. ``mt_avra``), as plain values."""
    with _open_archive(path) as archive:
        return _read_member(archive, _EXTRAS)


def load_wcs_record(path, steps: dict) -> tuple[dict, dict]:
    """What a product records of the WCS set it was made with: (``steps``, the ``meta.cal_step``
    statuses, updated by the set's ``cal_step`` entry, e.g. assign_mtwcs SKIPPED; the set's other
    extras as ``meta.wcsinfo`` fields, e.g. ``mt_avra``)."""
    extras = load_wcs_extras(path)
    return {**steps, **extras.pop("cal_step", {})}, extras


def _asdf_bytes(tree) -> bytes:
    buffer = io.BytesIO()
    with unvalidated():
        asdf.AsdfFile(tree).write_to(buffer)
    return buffer.getvalue()


def _open_archive(path):
    try:
        return zipfile.ZipFile(path)
    except (FileNotFoundError, zipfile.BadZipFile) as err:
        raise InputError(f"{path}: not a WCS set of this workflow ({err})") from None


def _read_member(archive, member) -> dict:
    """The tree of one ASDF member, converted (KeyError when there is no such member)."""
    data = archive.read(member)
    with unvalidated():
        with asdf.open(io.BytesIO(data), lazy_load=False, memmap=False) as af:
            return {k: v for k, v in af.tree.items() if k not in ("history", "asdf_library")}
