"""A warm worker for the workflow's local jobs: heavy imports once per run, not once per job.

Every Snakemake ``script:`` job is a fresh Python process, and most of a small job's time is spent
importing numpy, astropy, photutils, gwcs, stdatamodels... (seconds each on a small machine). For a
local run the workflow starts one *job server* (:func:`start`, from the Snakefile's ``onstart``): a
process that imports those packages once and then forks a child per job. The child takes over the
job's working directory, environment, arguments and stdin/stdout/stderr (passed over a socket),
runs the job's script file, and reports its exit status. Snakemake still decides what runs, where
and how many at once; only the start-up of each job's Python is skipped.

Two ways in: :func:`take_over_script_jobs` makes Snakemake's own process send each script job to
the server (no Python is started for the job at all), and :func:`hand_off`, a job script's first
statement, does it from the job's process when Snakemake started one anyway (a Snakemake lacking
one of the internals the hook relies on, :data:`SNAKEMAKE_INTERNALS`, say). Nothing changes for
the job when no server runs (a cluster job, ``job_server: false``, ``--no-hooks``, another Python
environment, the server gone): the script runs in its own process as before. :func:`engage`, from
the Snakefile's ``onstart``, does all this, and says so once in the run's log when the server or the
hook is not engaged for a reason the user can act on (Snakemake lacks an internal, the server did
not start or stopped), not when that is by design (cluster runs, ``--touch``).

The server lives as long as the Snakemake process that started it: it exits when that process
exits (``atexit``) or dies (it polls its parent), and a child exits when its job's connection
closes (Snakemake cancelled the job, or died). This module imports only the standard library (and
Snakemake's, inside the functions Snakemake's process calls), so a job pays nothing for the
hand-off and Snakemake nothing for starting the server.
"""

import atexit
import contextlib
import gc
import importlib
import inspect
import json
import logging
import os
import pkgutil
import runpy
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import traceback
from functools import partial

from .libraries import prepare_libraries

__all__ = [
    "ENV_VAR",
    "FIRST",
    "PRELOAD",
    "SNAKEMAKE_INTERNALS",
    "engage",
    "hand_off",
    "in_worker",
    "missing_snakemake_internals",
    "serve",
    "start",
    "take_over_script_jobs",
]

ENV_VAR = "IMAGE3_JOB_SERVER"
"""Environment variable holding the server's socket path; jobs inherit it from Snakemake."""

FIRST = (
    "numpy",
    "scipy.ndimage",
    "astropy.io.fits",
    "astropy.table",
    "photutils.detection",
    "photutils.background",
)
"""Packages the server imports before it takes its first job: those of the workflow's first jobs
(source detection for alignment), about 2 s here. A job forked earlier would import them itself
while the server does too, and on a small machine both would take twice as long."""

PRELOAD = (
    "asdf",
    "gwcs",
    "tweakwcs",
    "scipy.optimize",
    "astropy.wcs",
    "drizzle.resample",
    "photutils.segmentation",
    "photutils.aperture",
    "stdatamodels.jwst.datamodels",
    "matplotlib",
    "matplotlib.pyplot",
    "astropy.visualization.wcsaxes",
    "snakemake.iocontainers",
    "snakemake.logging",
)
"""Packages the server imports between jobs, after :data:`FIRST`, in the order the workflow's
jobs first need them (alignment, drizzling, catalogs, figures), besides every module of ``image3``:
those the library imports lazily, inside the functions that need them. A package missing here costs
only its own import in the jobs that use it.
"""

READY_TIMEOUT = 120
"""Seconds :func:`start` waits at most for the server's first imports."""

_MAX_MESSAGE = 1 << 20  # bytes of one job request (JSON), environment included
_in_worker = False
_warned = set()  # the warnings this process gave (_warn_once)
_warn_lock = threading.Lock()


def in_worker() -> bool:
    """Whether this process is a job run by the server (a forked child)."""
    return _in_worker


# --- Snakemake's internals the hook relies on ------------------------------------------------------

SNAKEMAKE_INTERNALS = {
    "snakemake.script:PythonScript.execute_script(self, fname, edit)": "runs a script job: the hook "
    "replaces it, and calls it for the jobs it leaves to Snakemake",
    "snakemake.script:PythonScript.conda_env": "set: the job runs in a conda environment (left to Snakemake)",
    "snakemake.script:PythonScript.container_img": "set: the job runs in a container (left to Snakemake)",
    "snakemake.script:PythonScript.env_modules": "set: the job loads environment modules (left to Snakemake)",
    "snakemake.script:PythonScript.threads": "the job's threads: its OMP_NUM_THREADS and the like",
    "snakemake.script:PythonScript.resources": "the job's resources: tmpdir is its TMPDIR",
    "snakemake.script:PythonScript.bench_record": "the job's benchmark record, or None",
    "snakemake.benchmark:benchmarked(pid, benchmark_record)": "measures the job's process into its record",
    "snakemake.workflow:Workflow.local_exec": "False when jobs run elsewhere (a cluster): no server then",
    "snakemake.workflow:Workflow.touch": "True for --touch (no job runs): no server then",
}
"""What of Snakemake, none of it its documented API, :func:`engage` and :func:`take_over_script_jobs`
rely on (in Snakemake 9's ``script/__init__.py``, ``shell.py``, ``benchmark.py``, ``workflow.py``),
and what for: ``module:object.attribute``, with a callable's first arguments. An attribute of a
class is there when the class has it or its ``__init__`` takes an argument of that name (the script
runner keeps each argument under its own name). :func:`missing_snakemake_internals` checks them all;
a Snakemake lacking one runs the workflow without the hook (see :func:`engage`)."""


def missing_snakemake_internals() -> list[str]:
    """The entries of :data:`SNAKEMAKE_INTERNALS` that this Snakemake lacks ([] when it has them all)."""
    return [name for name in SNAKEMAKE_INTERNALS if not _has_internal(name)]


def _has_internal(name) -> bool:
    """Whether ``name`` (an entry of :data:`SNAKEMAKE_INTERNALS`) exists in this Snakemake."""
    module_name, _, rest = name.partition(":")
    path, _, args = rest.partition("(")
    *owners, attribute = path.split(".")
    try:
        owner = importlib.import_module(module_name)
    except ImportError:
        return False
    for part in owners:
        owner = getattr(owner, part, None)
    if not hasattr(owner, attribute):
        return inspect.isclass(owner) and attribute in _arguments(owner.__init__)
    wanted = [arg.strip() for arg in args.rstrip(")").split(",") if arg.strip()]
    return _arguments(getattr(owner, attribute))[: len(wanted)] == wanted


def _arguments(function):
    """The names of ``function``'s arguments ([] when it has no signature)."""
    try:
        return list(inspect.signature(function).parameters)
    except (TypeError, ValueError):
        return []


# --- the job's side --------------------------------------------------------------------------------


def hand_off() -> None:
    """Run this job script in the workflow's job server, if one is running; exit with its status.

    Call it first thing in a job script, before the heavy imports. It returns (and the script
    goes on in this process) when no server is reachable or the server declines the job; inside
    the server's child it returns at once, so the script's body runs there.
    """
    if _in_worker or not os.environ.get(ENV_VAR):
        return
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    status = _run_in_server(sys.argv, dict(os.environ))
    if status is not None:
        sys.exit(status)


def engage(workflow, log_path, **server_options) -> bool:
    """Start the server for this run and let Snakemake send it the script jobs (the Snakefile's
    ``onstart``, with config ``job_server: true``); whether Snakemake's script jobs go to it.

    ``workflow``: Snakemake's ``Workflow``. Nothing starts, by design, when the jobs run elsewhere
    (a cluster executor) or none runs (``--touch``). One warning in the run's log says why the jobs
    do not go to the server from Snakemake itself when this Snakemake lacks one of
    :data:`SNAKEMAKE_INTERNALS` (it names them) or the server does not start (:func:`start`); the
    workflow then runs as in plain Snakemake, each job in its own Python (slower), which hands
    itself to the server if there is one (:func:`hand_off`). ``server_options``: :func:`start`'s
    ``first`` and ``preload``.
    """
    from snakemake import __version__

    missing = missing_snakemake_internals()
    executor_unknown = any(name.startswith("snakemake.workflow:") for name in missing)
    if not executor_unknown and (not workflow.local_exec or workflow.touch):
        return False
    if missing:
        _warn_once(
            f"this Snakemake ({__version__}) lacks {', '.join(missing)}, which the hook on its "
            "script jobs relies on (image3/job_server.py SNAKEMAKE_INTERNALS): each job starts its own "
            "Python (slower)"
        )
    return not executor_unknown and bool(start(log_path, **server_options)) and take_over_script_jobs()


def take_over_script_jobs() -> bool:
    """Make this Snakemake process send its Python ``script:`` jobs to the server itself.

    Snakemake runs a ``script:`` job as a fresh ``python`` on a temporary copy of the script that
    starts with its preamble (unpickling the job's ``snakemake`` object imports Snakemake: 0.1 s
    and more of every job before :func:`hand_off` is reached). Once this is called, a job that
    would run in this very Python (no conda environment, container or environment modules) is
    sent to the server from Snakemake's job thread instead: the server's child runs the same
    temporary script, with the job's working directory, environment (with the variables
    Snakemake's ``shell`` sets for a job: its threads, its ``tmpdir`` resource) and streams, and its
    exit status fails the job as a process's would. The benchmark record measures that child.
    Returns False, changing nothing, when this Snakemake lacks one of :data:`SNAKEMAKE_INTERNALS`
    (jobs then go through :func:`hand_off`). Should the server be gone, the run's log says so once
    and the jobs run through Snakemake's own ``execute_script``.
    """
    if missing_snakemake_internals():
        return False
    from snakemake.script import PythonScript

    through_a_process = PythonScript.execute_script
    if getattr(through_a_process, "_image3", False):
        return True

    def execute_script(self, fname, edit=False):
        status = None
        address = os.environ.get(ENV_VAR)
        if address and not (edit or self.conda_env or self.container_img or self.env_modules):
            env = {**os.environ, **_job_variables(self.threads, self.resources)}
            status = _run_in_server([fname], env, self.bench_record)
            if status is None:
                _warn_once(
                    f"the server at {address} is gone (its log: logs/job_server.log in the outdir): "
                    "the run's remaining jobs start their own Python (slower)"
                )
        if status is None:
            try:
                return through_a_process(self, fname, edit)
            except subprocess.CalledProcessError as err:
                _explain_kill(err.returncode)
                raise
        if status:
            _explain_kill(status)
            raise subprocess.CalledProcessError(status, f"{sys.executable} {fname}")
        return None

    execute_script._image3 = True
    PythonScript.execute_script = execute_script
    return True


def _explain_kill(status):
    """Say in the run's log what a job killed by SIGKILL (exit status -9, or 137 through a shell;
    a server's child that ended without reporting a status) most likely met, since it could not say
    it itself: the kernel's out-of-memory killer."""
    if status in (-signal.SIGKILL, 128 + signal.SIGKILL):
        logging.getLogger("snakemake.logging").error(
            "image3: a job was killed (SIGKILL), most likely because the machine ran out of memory: "
            "run the same command with --retries 1 (a retry asks for more memory, mem_mb, and "
            "Snakemake runs fewer such jobs at once under --resources mem_mb=...), with fewer "
            "--cores, or with tiles (tiles.size) for a large mosaic"
        )


def _job_variables(threads, resources):
    """The environment variables Snakemake's ``shell`` sets for a job (``snakemake/shell.py``):
    its ``threads`` for the numerical libraries, and its ``tmpdir`` resource, if any, as its
    temporary folder."""
    names = ("OMP", "GOTO", "OPENBLAS", "MKL", "NUMEXPR")
    variables = {f"{name}_NUM_THREADS": str(threads) for name in names}
    variables["VECLIB_MAXIMUM_THREADS"] = str(threads)
    tmpdir = resources.get("tmpdir")
    if tmpdir:
        variables.update(dict.fromkeys(("TMPDIR", "TMP", "TEMPDIR", "TEMP"), str(tmpdir)))
    return variables


def _warn_once(message):
    """A warning in the Snakemake run's log (Snakemake's logger; stderr should it be named otherwise),
    once per process, i.e. per run. Formatted here: Snakemake prints a record's message as it is."""
    with _warn_lock:
        if message in _warned:
            return
        _warned.add(message)
    logging.getLogger("snakemake.logging").warning(f"image3 job server: {message}")


def _run_in_server(argv, env, bench_record=None):
    """Run the script ``argv[0]`` (with ``argv`` and ``env``, this process's working directory and
    streams) in the server; its exit status, or None when no server is reachable or it declines.

    ``bench_record``: a Snakemake benchmark record, filled by measuring the server's child.
    """
    try:
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        conn.connect(env[ENV_VAR])
    except OSError:
        return None  # no server (any more): run here
    request = {
        "script": os.path.abspath(argv[0]),
        "argv": list(argv),
        "cwd": os.getcwd(),
        "env": env,
        "executable": sys.executable,
        "prefix": sys.prefix,
    }
    payload = json.dumps(request).encode()
    with conn, conn.makefile("rb") as replies:
        try:
            socket.send_fds(conn, [struct.pack("!I", len(payload)) + payload], [0, 1, 2])
            reply = _read_reply(replies)
            if reply and "pid" in reply:
                with _measured(reply["pid"], bench_record):
                    reply = _read_reply(replies)
        except OSError:
            reply = None
    if reply is None:  # the child was killed before it could report (the OOM killer's SIGKILL)
        return -signal.SIGKILL
    return None if "declined" in reply else reply["status"]


def _measured(pid, bench_record):
    """Snakemake's benchmark of process ``pid`` into ``bench_record`` (nothing if None)."""
    if bench_record is None:
        return contextlib.nullcontext()
    from snakemake.benchmark import benchmarked

    return benchmarked(pid, bench_record)


def _read_reply(replies):
    """The server's next JSON reply (one line of the file ``replies``), or None if it closed first."""
    line = replies.readline()
    return json.loads(line) if line.endswith(b"\n") else None


# --- the server's side -----------------------------------------------------------------------------


def start(log_path, *, first=FIRST, preload=PRELOAD) -> str | None:
    """Start a job server for this process's jobs; return its socket path (also set in ENV_VAR), or
    None, with a warning in the run's log, if it failed before it was ready.

    The server is a child of this process: its output goes to ``log_path``, it stops when this
    process exits, and every job this process starts afterwards inherits the socket path. It
    returns once the server has imported ``first`` (at most ``READY_TIMEOUT`` s), so that the
    run's first jobs do not wait for those imports inside their own time: it is a cost of the run,
    paid once. ``first`` and ``preload``: see :func:`serve`.
    """
    socket_dir = tempfile.mkdtemp(prefix="image3-jobs-")  # mode 0700: only this user connects
    address = os.path.join(socket_dir, "server.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(address)
    listener.listen(128)
    # The server imports this very copy of image3, wherever this process found it.
    package_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    python_path = os.pathsep.join(filter(None, (package_root, os.environ.get("PYTHONPATH"))))
    os.makedirs(os.path.dirname(os.path.abspath(log_path)), exist_ok=True)
    ready, ready_to_write = os.pipe()
    with open(log_path, "w") as log, listener:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "image3.job_server",
                str(listener.fileno()),
                str(os.getpid()),
                str(ready_to_write),
                ",".join(first),
                *preload,
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": python_path},
            pass_fds=[listener.fileno(), ready_to_write],
        )
    os.close(ready_to_write)
    atexit.register(_stop, server, socket_dir)
    with os.fdopen(ready, "rb") as signal_pipe:  # a byte when ready; EOF if the server failed
        if select.select([signal_pipe], [], [], READY_TIMEOUT)[0] and not signal_pipe.read(1):
            _warn_once(f"did not start (its log: {log_path}): each job starts its own Python (slower)")
            return None
    os.environ[ENV_VAR] = address
    return address


def _stop(server, socket_dir):
    os.environ.pop(ENV_VAR, None)
    server.terminate()
    with contextlib.suppress(subprocess.TimeoutExpired):
        server.wait(timeout=5)
    shutil.rmtree(socket_dir, ignore_errors=True)


def serve(listener_fd, parent_pid, first=FIRST, preload=PRELOAD, *, ready_fd=None) -> None:
    """Fork a child per job connecting to the listening socket ``listener_fd`` until the process
    ``parent_pid`` exits. Import ``first`` before taking any job (a job waits meanwhile), then
    write a byte to ``ready_fd`` (if given) and close it; then,
    while no job waits, warm up: import ``preload`` and every module of ``image3``, then fill the
    caches jobs fill on first use (:func:`_warm_up_tasks`). A job forked before the warm-up ends
    does the rest of it itself, on demand, as a fresh process would."""
    listener = socket.socket(fileno=listener_fd)
    address = listener.getsockname()
    signal.signal(signal.SIGTERM, partial(_exit_now, address))
    for name in first:
        _run_task(partial(importlib.import_module, name))
    if ready_fd is not None:
        with contextlib.suppress(OSError):
            os.write(ready_fd, b"1")
        os.close(ready_fd)
    tasks = _warm_up_tasks(preload)
    print(f"image3 job server {os.getpid()}: listening on {address}", flush=True)
    try:
        while os.getppid() == parent_pid:
            _reap_children()
            listener.settimeout(0 if tasks else 0.5)  # busy warming up: only take a waiting job
            try:
                conn, _ = listener.accept()
            except (TimeoutError, BlockingIOError):
                if tasks:
                    _run_task(tasks.pop(0))
                    if not tasks:
                        print("image3 job server: warmed up", flush=True)
                continue
            conn.setblocking(True)
            sys.stdout.flush()
            gc.freeze()  # the child's collections skip what the server holds (nor touch its pages)
            if os.fork() == 0:
                listener.close()
                _run_job(conn)  # never returns
            conn.close()
    finally:
        _reap_children()
        with contextlib.suppress(OSError):
            os.unlink(address)


def _exit_now(address, *_):
    """On SIGTERM (the workflow is done): remove the socket and exit at once. A normal exit would
    finalise the thousands of modules the server imported, about a second Snakemake waits for."""
    with contextlib.suppress(OSError):
        os.unlink(address)
    _reap_children()
    os._exit(0)


def _reap_children():
    """Collect the jobs that have finished, so their CPU time and peak RSS count as this process's
    children's (and so Snakemake's, e.g. for ``/usr/bin/time snakemake ...``)."""
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass


def _warm_up_tasks(preload):
    """The server's warm-up, as small steps: imports first, then first-use caches."""
    import image3

    os.environ.setdefault("MPLBACKEND", "Agg")
    library = [info.name for info in pkgutil.walk_packages(image3.__path__, "image3.")]
    imports = [partial(importlib.import_module, name) for name in (*preload, *library)]
    return [*imports, prepare_libraries, _warm_asdf_and_datamodels, _warm_matplotlib]


def _run_task(task):
    try:
        task()
    except Exception as err:  # the jobs that need it do it themselves
        print(f"image3 job server: warm-up step {task} failed: {err}", flush=True)


def _warm_asdf_and_datamodels():
    """Write and read back a small level-2b image with a gwcs, as stdatamodels and asdf: loads the
    installed ASDF extensions (an entry-point scan of every installed package), their manifests,
    converters and schemas, which each job would otherwise do again on its first file."""
    from stdatamodels.jwst import datamodels

    from .wcs import jwst_wcs
    from .wcs import store as wcs_store

    wcs = jwst_wcs.imaging_wcs((8, 8), jwst_wcs.Pointing(ra_ref=53.16, dec_ref=-27.8, roll_ref=30.0))
    with tempfile.TemporaryDirectory(prefix="image3-warm-up-") as folder:
        wcs_store.save_wcs_set(os.path.join(folder, "wcs.zip"), {"x": wcs})
        wcs_store.load_wcs_entry(os.path.join(folder, "wcs.zip"), "x")
        model = datamodels.ImageModel((8, 8))
        model.meta.wcs = wcs
        model.meta.bunit_data = "MJy/sr"
        model.save(os.path.join(folder, "x_cal.fits"))
        with datamodels.open(os.path.join(folder, "x_cal.fits")) as again:
            again.meta.wcs  # noqa: B018 (deserialised on first access)


def _warm_matplotlib():
    """Draw and save a small figure with text: loads the fonts and the Agg renderer."""
    import io

    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot([0, 1], [0, 1])
    ax.set_title("warm-up")
    fig.savefig(io.BytesIO(), format="png")
    plt.close(fig)


def _run_job(conn):
    """In the forked child: become the job described on ``conn``, run its script, report, exit."""
    status = 1
    try:
        request, fds = _read_request(conn)
        reason = _decline_reason(request)
        if reason:
            _send(conn, {"declined": reason})
            os._exit(0)
        _send(conn, {"pid": os.getpid()})
        _become(request, fds)
        threading.Thread(target=_exit_with_client, args=(conn,), daemon=True).start()
        status = _run_script(request["script"])
        _send(conn, {"status": status})
    except BaseException:
        traceback.print_exc()
    finally:
        os._exit(status)


def _read_request(conn):
    """The job's request (a length-prefixed JSON object) and its three file descriptors."""
    data, fds, _, _ = socket.recv_fds(conn, 4, 3)
    data += _receive(conn, 4 - len(data))
    (size,) = struct.unpack("!I", data)
    if size > _MAX_MESSAGE or len(fds) != 3:
        raise ValueError(f"malformed job request ({size} bytes, {len(fds)} descriptors)")
    return json.loads(_receive(conn, size)), fds


def _receive(conn, size):
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            raise ConnectionError("the job closed its connection mid-request")
        data += chunk
    return data


def _decline_reason(request):
    """Why this server cannot run the job as its own process would (another Python), or ''."""
    if (request["executable"], request["prefix"]) != (sys.executable, sys.prefix):
        return f"the job runs {request['executable']}, this server {sys.executable}"
    return ""


def _become(request, fds):
    """Take the job's stdin/stdout/stderr, working directory, environment and arguments."""
    for fd, target in zip(fds, (0, 1, 2), strict=True):
        os.dup2(fd, target)
        os.close(fd)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    # The server's warm-up fixed its temporary folder (tempfile.gettempdir() keeps the first answer):
    # the job's is the one its environment names (TMPDIR: Snakemake's tmpdir resource), as in a fresh
    # Python.
    tempfile.tempdir = None
    sys.argv = list(request["argv"])
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    global _in_worker
    _in_worker = True


def _exit_with_client(conn):
    """Kill this child when the job's process goes away (Snakemake cancelled the job)."""
    with contextlib.suppress(OSError):
        while conn.recv(1):
            pass
    os.kill(os.getpid(), signal.SIGKILL)


def _run_script(path) -> int:
    """Run a job script as ``python path`` would; its exit status."""
    try:
        runpy.run_path(path, run_name="__main__")
        status = 0
    except SystemExit as stop:
        status = _exit_status(stop.code)
    except BaseException:
        traceback.print_exc()
        status = 1
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    import logging

    logging.shutdown()
    return status


def _exit_status(code) -> int:
    """The process exit status ``sys.exit(code)`` gives."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    sys.stderr.write(f"{code}\n")
    return 1


def _send(conn, message):
    conn.sendall(json.dumps(message).encode() + b"\n")


if __name__ == "__main__":
    # Serve from the package's module, the one job scripts import (not this __main__ copy).
    from image3 import job_server

    listener_fd, parent_pid, ready_fd = (int(arg) for arg in sys.argv[1:4])
    first = tuple(filter(None, sys.argv[4].split(",")))
    job_server.serve(listener_fd, parent_pid, first, tuple(sys.argv[5:]), ready_fd=ready_fd)
