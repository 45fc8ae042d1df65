"""Header scans kept between workflow loads: each Snakemake start (every cluster job starts one or
more) loads the workflow, and with it every member's header scan; a survey's thousands of members
are walked once, then read back from one file.

A scan is reused while its file keeps its size, modification time (ns) and inode, and while the
keywords asked for are the same; anything else is scanned again. The cache is a pickle written by
this package into Snakemake's own state folder of the working directory; a cache that cannot be
read (another version, cut short) is ignored and rewritten.
"""

import contextlib
import os
import pickle
from pathlib import Path

from .fits_read import HeaderScan, scan_headers

__all__ = ["ScanCache"]

_FORMAT = 1  # bump when HeaderScan or what it holds changes


class ScanCache:
    """Header scans (:func:`~image3.io.fits_read.scan_headers`) of files, by path, kept in the
    pickle file ``path`` between processes. ``keys``: the (primary, sci) keywords every scan reads.
    """

    def __init__(self, path, keys):
        self.path = Path(path)
        self.keys = (tuple(keys[0]), tuple(keys[1]))
        self._scans = self._load()
        self._changed = False

    def _load(self) -> dict:
        try:
            with open(self.path, "rb") as f:
                stored = pickle.load(f)
        except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError, ValueError):
            return {}
        if not isinstance(stored, dict) or stored.get("format") != (_FORMAT, self.keys):
            return {}
        return stored["scans"]

    def scan(self, path) -> HeaderScan:
        """The file's scan: the stored one when the file is unchanged, else a fresh one (raises as
        :func:`~image3.io.fits_read.scan_headers` does)."""
        key = str(path)
        stat = os.stat(path)
        stamp = (stat.st_size, stat.st_mtime_ns, stat.st_ino)
        stored = self._scans.get(key)
        if stored is not None and stored[0] == stamp:
            return stored[1]
        fresh = scan_headers(path, *self.keys)
        self._scans[key] = (stamp, fresh)
        self._changed = True
        return fresh

    def save(self) -> None:
        """Write the scans if any is new (atomically: concurrent loads read a whole file or none).
        A folder that cannot be written is left alone: the next load scans again."""
        if not self._changed:
            return
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(temporary, "wb") as f:
                pickle.dump({"format": (_FORMAT, self.keys), "scans": self._scans}, f, protocol=5)
            os.replace(temporary, self.path)
        except OSError:
            with contextlib.suppress(OSError):
                temporary.unlink()
        self._changed = False
