"""A job's faults as the user reads them (image3.jobs.run, image3.errors, image3.io.atomic): bad input
and faults of the machine end the job with one line naming the path and the remedy and exit status
1; a bug keeps its traceback; an output is never left half-written."""

import errno
import logging

import pytest

from image3.errors import InputError, machine_error
from image3.io.atomic import atomic_path
from image3.jobs import run

FAULTS = {
    "disk full": (OSError(errno.ENOSPC, "No space left on device"), "no space left on the disk"),
    "astropy's full disk": (
        OSError("Not enough space on disk: requested 8640, available 0. "),
        "no space left on the disk",
    ),
    "quota": (OSError(errno.EDQUOT, "Disk quota exceeded"), "disk quota exceeded"),
    "read-only": (OSError(errno.EROFS, "Read-only file system"), "the file system is read-only"),
    "permission": (PermissionError(errno.EACCES, "Permission denied"), "permission denied"),
    "vanished folder": (FileNotFoundError(errno.ENOENT, "No such file or directory"), "the folder is gone"),
    "memory": (MemoryError(), "out of memory: run again with --retries 1"),
}


def _job_output(main, tmp_path, capsys):
    """(exit status, what the job wrote to stderr and its log) of ``run(main)``."""
    log_path = tmp_path / "job.log"
    with pytest.raises(SystemExit) as stop:
        run(main, log_path)
    logging.shutdown()
    return stop.value.code, capsys.readouterr().err + log_path.read_text()


@pytest.mark.parametrize("case", list(FAULTS))
def test_a_machine_fault_while_writing_is_one_line_naming_the_output(case, tmp_path, capsys):
    """The fault raised while an output is written: one line naming the output's absolute path
    (a vanished folder only makes sense for an output), what happened and that the same command
    resumes; no traceback; no temporary file left."""
    error, what = FAULTS[case]
    out = tmp_path / "results" / "x_i2d.fits"

    def main():
        with atomic_path(out) as tmp:
            tmp.write_text("half")
            raise error

    status, seen = _job_output(main, tmp_path, capsys)
    assert status == 1
    assert "Traceback" not in seen, seen
    errors = [line for line in seen.splitlines() if " ERROR " in line]
    assert errors and what in errors[0], seen
    if case != "memory":
        assert f"writing {out}: " in errors[0] and "run the same command again" in errors[0]
    assert not out.exists() and [p.name for p in out.parent.iterdir()] == []


def test_a_bug_keeps_its_traceback_and_bad_input_is_one_line(tmp_path, capsys):
    """An error that is neither the input's nor the machine's is a bug: its traceback is kept. An
    I/O error of another kind (EIO) is one too; a missing file read (not written) is not called a
    vanished output folder."""
    for error in (ValueError("a bug"), OSError(errno.EIO, "Input/output error")):

        def main(error=error):
            raise error

        status, seen = _job_output(main, tmp_path, capsys)
        assert status == 1 and "Traceback" in seen
    assert machine_error(FileNotFoundError(errno.ENOENT, "No such file", "in.fits")) is None

    def bad_input():
        raise InputError("x_cal.fits: not a FITS file")

    status, seen = _job_output(bad_input, tmp_path, capsys)
    assert status == 1 and "Traceback" not in seen and "x_cal.fits: not a FITS file" in seen


def test_a_killed_writers_leftover_is_removed_and_never_read(tmp_path):
    """A writer killed mid-write leaves its hidden temporary folder, never the output: the next
    writer of that output removes it."""
    out = tmp_path / "x_cal.fits"
    leftover = tmp_path / ".x_cal.fits.tmp999999"
    leftover.mkdir()
    (leftover / "x_cal.fits").write_text("half")
    with atomic_path(out) as tmp:
        tmp.write_text("whole")
    assert out.read_text() == "whole"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x_cal.fits"]
