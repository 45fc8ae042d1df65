"""The exceptions a job reports as one line: bad input, and faults of the machine it runs on.

Their messages name the file, config key, folder or resource at fault and what to do; a job ends
with that line and exit status 1, no traceback (:func:`image3.jobs.run`). Any other exception is a
bug and keeps its traceback.
"""

import errno

__all__ = ["InputError", "MachineError", "machine_error"]


class InputError(Exception):
    """Bad input (a file, an association or a config value), with a message naming it."""


class MachineError(Exception):
    """A fault of the machine, not of the input or the code: out of disk space, a folder that is
    read-only, not permitted or gone, out of memory. The message names the path or resource and
    the remedy; the same command resumes once it is fixed."""


_RESUME = "then run the same command again (only what is missing is made)"

# errno -> (what happened, what to do)
_FAULTS = {
    errno.ENOSPC: ("no space left on the disk", "free space there or set outdir on a larger disk"),
    errno.EDQUOT: ("disk quota exceeded", "free space within your quota or set outdir elsewhere"),
    errno.EROFS: ("the file system is read-only", "set outdir on a writable disk"),
    errno.EACCES: ("permission denied", "make it writable for you or set outdir elsewhere"),
    errno.EPERM: ("operation not permitted", "make it writable for you or set outdir elsewhere"),
    errno.ENOENT: ("the folder is gone", "was it moved or deleted during the run?"),
}


def machine_error(err: BaseException, path=None, *, writing=False) -> MachineError | None:
    """``err`` as a :class:`MachineError` naming ``path`` (or the path the error names), or None
    when it is no fault of the machine. Recognised: the OS errors of a full, read-only or
    forbidden folder, and with ``writing`` (``path`` an output) of a vanished one (by errno;
    astropy's writer reports a full disk as an OSError without one, "Not enough space on disk"),
    and MemoryError."""
    if isinstance(err, MemoryError):
        return MachineError(
            "out of memory: run again with --retries 1 (each retry asks for more memory, mem_mb), "
            "with fewer --cores, or with tiles (tiles.size) for a large mosaic"
        )
    if not isinstance(err, OSError):
        return None
    code = errno.ENOSPC if err.errno is None and "Not enough space" in str(err) else err.errno
    if code not in _FAULTS or (code == errno.ENOENT and not writing):
        return None
    what, remedy = _FAULTS[code]
    where = path or err.filename
    place = f" {'writing' if writing else 'at'} {where}" if where else ""
    return MachineError(f"{what}{place}: {remedy}; {_RESUME}")
