"""The side file that carries each exposure's sky level between steps.

JSON ``{exposure name: {"level": MJy/sr, "subtracted": bool, "method": str}}``, the fields of the
official ``meta.background``; written by skymatch for a product and read by the steps that use the
levels (outlier detection, the ``_crf`` files and resample). Light on imports: per-exposure jobs read it.
"""

import json
from pathlib import Path

from ..errors import InputError
from ..io.atomic import atomic_path

__all__ = ["read_sky_entry", "read_sky_file", "write_sky_file"]


def write_sky_file(path, levels: dict, subtracted: bool, method: str):
    """Write ``{exposure: {level, subtracted, method}}`` for ``levels`` (exposure -> MJy/sr) atomically."""
    table = {
        name: {"level": float(level), "subtracted": bool(subtracted), "method": str(method)}
        for name, level in levels.items()
    }
    with atomic_path(path) as tmp:
        Path(tmp).write_text(json.dumps(table, indent=2) + "\n")


def read_sky_file(path) -> dict:
    """``{exposure: {level, subtracted, method}}`` from a file written by :func:`write_sky_file`."""
    return json.loads(Path(path).read_text())


def read_sky_entry(path, exposure) -> dict:
    """The ``meta.background`` fields of ``exposure`` from a file written by :func:`write_sky_file`."""
    try:
        return read_sky_file(path)[exposure]
    except KeyError:
        raise InputError(f"{path}: no sky level for exposure {exposure}") from None
