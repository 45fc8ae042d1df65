"""Which software made a product: our package's name and version (``CAL_VER``) and, when it runs
from a git checkout, the checkout's revision (``CAL_VCS``), in the official keywords' homes
(``meta.calibration_software_version``, ``meta.calibration_software_revision``).

Read when a product is written, not passed as a rule parameter: a new version or revision alone
reruns nothing. Two runs of the same checkout write the same values.
"""

import importlib.metadata
import os
import subprocess
from functools import cache
from pathlib import Path

__all__ = ["SOFTWARE", "provenance_meta", "record_provenance", "software_revision", "software_version"]

SOFTWARE = "image3-workflow"
"""Our distribution's name (pyproject.toml), as ``CAL_VER`` records it before the version."""


def software_version() -> str:
    """``"image3-workflow <version>"`` from the installed package's metadata (``unknown``
    when it is not installed, e.g. run from a plain copy of the source)."""
    try:
        version = importlib.metadata.version(SOFTWARE)
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    return f"{SOFTWARE} {version}"


@cache
def software_revision() -> str | None:
    """The git revision of the checkout the ``image3`` package is imported from (40 hex digits,
    ``-dirty`` appended when tracked files differ from it), or None when that folder is not a
    git checkout's top (an installed package) or git is unavailable. Asked once per process
    (a job), about 10 ms."""
    top = Path(__file__).resolve().parents[2]
    if not (top / ".git").exists():
        return None
    try:
        done = subprocess.run(
            ["git", "-C", str(top), "describe", "--always", "--dirty", "--abbrev=40", "--exclude=*"],
            capture_output=True,
            text=True,
            timeout=10,
            env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"},  # jobs at once: never wait on the index lock
        )
    except (OSError, subprocess.SubprocessError):
        return None
    revision = done.stdout.strip()
    return revision if done.returncode == 0 and revision else None


def record_provenance(model, pool_name: str | None):
    """Record in a model's metadata the software that writes it (``CAL_VER``, ``CAL_VCS``; an
    input's values, those of the software that calibrated it, are replaced, and ``CAL_VCS`` is
    left out when the revision is unknown) and the association pool (``ASNPOOL``, when known)."""
    meta = model.meta
    meta.calibration_software_version = software_version()
    meta.calibration_software_revision = software_revision()
    meta.asn.pool_name = pool_name or None


def provenance_meta(pool_names) -> dict:
    """The same record for a table's metadata (a catalog's): ``CAL_VER``, ``CAL_VCS`` (when
    known) and ``ASNPOOL``, the pools of the mosaics it was measured on (distinct names joined
    by ``", "`` in their order; left out when none is known)."""
    pools = list(dict.fromkeys(p for p in pool_names if p))
    meta = {"CAL_VER": software_version(), "CAL_VCS": software_revision(), "ASNPOOL": ", ".join(pools)}
    return {key: value for key, value in meta.items() if value}
