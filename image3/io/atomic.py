"""Write outputs under a temporary name in the same folder and rename them only when complete."""

import contextlib
import os
import shutil
from pathlib import Path

from ..errors import machine_error

__all__ = ["atomic_path"]


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path for ``path``; on success rename it into place, on error remove it.

    The temporary file has the final file name inside a hidden folder beside ``path``, so writers
    that record the file name (stdatamodels sets ``meta.filename`` on save) record the final one,
    and the rename stays on one file system. Temporary folders an earlier, killed writer of
    ``path`` left are removed first (Snakemake never runs two jobs writing one file). A full,
    read-only, forbidden or vanished folder raises :class:`~image3.errors.MachineError` naming
    ``path``.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        for stale in path.parent.glob(f".{path.name}.tmp*"):
            shutil.rmtree(stale, ignore_errors=True)
        tmpdir = path.parent / f".{path.name}.tmp{os.getpid()}"
        tmpdir.mkdir(exist_ok=True)
    except OSError as err:
        raise machine_error(err, path.absolute(), writing=True) or err from None
    try:
        yield tmpdir / path.name
        os.replace(tmpdir / path.name, path)
    except (OSError, MemoryError) as err:
        fault = machine_error(err, path.absolute(), writing=True)
        if fault is None:
            raise
        raise fault from None
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
