"""The side file that carries each exposure's current WCS between steps.

An ASDF file with a mapping ``wcs: {exposure name: gwcs}``, written by the alignment step of a
product and read by every later step instead of copying whole exposures. The tree is validated
against the ASDF schemas when written, not again when read (most of a read's time).
"""

import asdf

from .atomic import atomic_path
from .errors import InputError


def save_wcs_set(path, wcs_by_exposure: dict, **extra):
    """Write ``{exposure: gwcs}`` (and any ``extra`` tree entries) to ``path`` atomically."""
    with atomic_path(path) as tmp:
        asdf.AsdfFile({"wcs": dict(wcs_by_exposure), **extra}).write_to(tmp)


def load_wcs_set(path) -> dict:
    """Read ``{exposure: gwcs}`` from a file written by :func:`save_wcs_set`."""
    with _open(path, lazy_tree=False) as af:
        return dict(af["wcs"])


def load_wcs_entry(path, exposure):
    """The gwcs of one exposure from a file of :func:`save_wcs_set`, deserializing only that one
    (``lazy_tree``: a per-exposure job's cost does not grow with the product's size)."""
    with _open(path) as af:
        try:
            return af["wcs"][exposure]
        except KeyError:
            raise InputError(f"{path}: no WCS for exposure {exposure}") from None


def load_wcs_extras(path) -> dict:
    """The entries :func:`save_wcs_set` wrote beside the WCS (e.g. ``mt_avra``), as plain values."""
    with _open(path) as af:
        return {key: af[key] for key in af.tree if key not in ("wcs", "history", "asdf_library")}


def _open(path, *, lazy_tree=True):
    """Open a file of :func:`save_wcs_set` for reading, without validating it again."""
    with asdf.config_context() as config:
        config.validate_on_read = False
        return asdf.open(path, lazy_load=False, memmap=False, lazy_tree=lazy_tree)
