"""Write outputs under a temporary name in the same folder and rename them only when complete."""

import contextlib
import os
import shutil
from pathlib import Path

__all__ = ["atomic_path"]


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path for ``path``; on success rename it into place, on error remove it.

    The temporary file has the final file name inside a hidden folder beside ``path``, so writers
    that record the file name (stdatamodels sets ``meta.filename`` on save) record the final one,
    and the rename stays on one file system.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmpdir = path.parent / f".{path.name}.tmp{os.getpid()}"
    tmpdir.mkdir(exist_ok=True)
    try:
        yield tmpdir / path.name
        os.replace(tmpdir / path.name, path)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
