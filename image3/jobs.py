"""Running one workflow job: log to a file, turn bad input into a one-line error and exit code 1.

Scripts call :func:`run` with their main function; nothing here knows about Snakemake.
"""

import gc
import logging
import os
import resource
import sys
import time
import warnings

from astropy.utils.exceptions import AstropyDeprecationWarning

from . import job_server
from .errors import InputError, MachineError, machine_error
from .libraries import prepare_libraries

__all__ = ["run"]

log = logging.getLogger("image3")


def _usage():
    """This process's CPU seconds and peak RSS in MiB so far (a job server's child: since its fork)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def _call(main):
    """``main()``; with IMAGE3_PROFILE=<folder> set, profiled into <folder>/<script>-<pid>.prof."""
    folder = os.environ.get("IMAGE3_PROFILE")
    if not folder:
        return main()
    import cProfile

    script = os.path.basename(sys.argv[0]).split(".")[-2] if "." in sys.argv[0] else "job"
    with cProfile.Profile() as profile:
        main()
    os.makedirs(folder, exist_ok=True)
    profile.dump_stats(os.path.join(folder, f"{script}-{os.getpid()}.prof"))


def run(main, log_path=None):
    """Call ``main()`` with logging to ``log_path`` (and stderr); exit 1 on any error.

    An :class:`InputError` or :class:`MachineError` (an OS error of a full, read-only, forbidden or
    vanished folder, or MemoryError, become one: :func:`~image3.errors.machine_error`) is reported
    as its message alone (it names the file, key or folder and the remedy); any other exception
    with its traceback. A log file that cannot be written (the disk full) is not reported again.
    """
    logging.raiseExceptions = False
    handlers = [logging.StreamHandler(sys.stderr)]
    if log_path:
        try:
            handlers.append(logging.FileHandler(log_path, mode="w"))
        except OSError as err:  # a full or read-only disk: the job's own outputs will say so
            print(f"cannot write the job's log {log_path}: {err.strerror}", file=sys.stderr)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", handlers=handlers, force=True
    )
    logging.captureWarnings(True)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=AstropyDeprecationWarning)
    prepare_libraries()
    if job_server.in_worker():
        log.info("running in the workflow's job server")
    # The imported packages' objects (hundreds of thousands) never become garbage: leave them out
    # of the collector's passes, which otherwise traverse them all, again and again (up to half a
    # job's time).
    gc.freeze()
    start = time.perf_counter()
    try:
        _call(main)
    except (InputError, MachineError) as err:
        log.error("%s", err)
        sys.exit(1)
    except (OSError, MemoryError) as err:
        fault = machine_error(err)
        if fault is None:
            log.exception("job failed")
        else:
            log.error("%s", fault)
        sys.exit(1)
    except Exception:
        log.exception("job failed")
        sys.exit(1)
    cpu, peak = _usage()
    elapsed = time.perf_counter() - start
    log.info("done in %.2f s (process: %.2f CPU s, peak RSS %.0f MiB)", elapsed, cpu, peak)
