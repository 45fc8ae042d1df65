"""Running one workflow job: log to a file, turn bad input into a one-line error and exit code 1.

Scripts call :func:`run` with their main function; nothing here knows about Snakemake.
"""

import logging
import sys
import time
import warnings

from astropy.utils.exceptions import AstropyDeprecationWarning

from .errors import InputError

log = logging.getLogger("image3")


def run(main, log_path=None):
    """Call ``main()`` with logging to ``log_path`` (and stderr); exit 1 on any error.

    An :class:`InputError` is reported as its message alone (it names the file or key); any other
    exception with its traceback.
    """
    handlers = [logging.StreamHandler(sys.stderr)]
    if log_path:
        handlers.append(logging.FileHandler(log_path, mode="w"))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", handlers=handlers)
    logging.captureWarnings(True)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=AstropyDeprecationWarning)
    start = time.perf_counter()
    try:
        main()
    except InputError as err:
        log.error("%s", err)
        sys.exit(1)
    except Exception:
        log.exception("job failed")
        sys.exit(1)
    log.info("done in %.2f s", time.perf_counter() - start)
