"""The warm job server runs a job script as the job's own process would, or leaves it to that process.

Each test starts a real server (``job_server.start`` in a helper process standing in for Snakemake)
and runs small job scripts through ``hand_off`` as separate processes.
"""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from image3 import job_server

# A stand-in for Snakemake: starts a server, prints its socket path, lives until stdin closes.
PARENT = """
import sys
from image3 import job_server
print(job_server.start(sys.argv[1], first=(), preload=("numpy",)), flush=True)
sys.stdin.read()
"""

# A job script: hands off, then reports where it ran and what it saw.
SCRIPT = """
import os, sys
from image3.job_server import hand_off, in_worker
hand_off()
print(f"in_worker={in_worker()} pid={os.getpid()} cwd={os.getcwd()} args={sys.argv[1:]}")
print("to stderr", file=sys.stderr)
print("JOB_VALUE=" + os.environ.get("JOB_VALUE", ""))
if "sleep" in sys.argv:
    import time
    open("started", "w").close()
    time.sleep(60)
code = sys.argv[1] if len(sys.argv) > 1 else "0"
sys.exit(int(code) if code.isdigit() else code)
"""


@pytest.fixture
def server(tmp_path):
    """A running server's socket path; the parent process ends (and the server with it) after the test."""
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, str(tmp_path / "server.log")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    address = parent.stdout.readline().strip()
    yield address
    parent.stdin.close()
    parent.wait(timeout=30)


def run_job(tmp_path, address, *args, **env):
    script = tmp_path / "job.py"
    script.write_text(textwrap.dedent(SCRIPT))
    workdir = tmp_path / "work"
    workdir.mkdir(exist_ok=True)
    environ = {**os.environ, **env}
    if address:
        environ[job_server.ENV_VAR] = address
    else:
        environ.pop(job_server.ENV_VAR, None)
    return subprocess.run(
        [sys.executable, str(script), *args], cwd=workdir, env=environ, capture_output=True, text=True
    )


def field(output, key):
    return output.split(f"{key}=")[1].split()[0]


def test_job_runs_in_the_server_with_the_jobs_cwd_env_args_and_streams(tmp_path, server):
    result = run_job(tmp_path, server, "0", "x y", JOB_VALUE="from the job")
    assert result.returncode == 0, result.stderr
    assert field(result.stdout, "in_worker") == "True"
    assert field(result.stdout, "cwd") == str(tmp_path / "work")
    assert "args=['0', 'x y']" in result.stdout
    assert "JOB_VALUE=from the job" in result.stdout
    assert "to stderr" in result.stderr


@pytest.mark.parametrize(("arg", "status"), [("0", 0), ("3", 3), ("a message", 1)])
def test_exit_status_is_the_scripts(tmp_path, server, arg, status):
    result = run_job(tmp_path, server, arg)
    assert field(result.stdout, "in_worker") == "True"
    assert result.returncode == status
    if status == 1:
        assert "a message" in result.stderr


def test_each_job_is_a_fresh_child(tmp_path, server):
    pids = {field(run_job(tmp_path, server).stdout, "pid") for _ in range(3)}
    assert len(pids) == 3


def test_without_a_server_the_job_runs_in_its_own_process(tmp_path):
    for address in ("", str(tmp_path / "no-such.sock")):
        result = run_job(tmp_path, address, "4")
        assert field(result.stdout, "in_worker") == "False"
        assert result.returncode == 4


def test_another_python_is_declined_and_runs_itself(tmp_path, server):
    venv = tmp_path / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", "--system-site-packages", str(venv)], check=True
    )
    script = tmp_path / "job.py"
    script.write_text(textwrap.dedent(SCRIPT))
    env = {**os.environ, job_server.ENV_VAR: server, "PYTHONPATH": str(Path(job_server.__file__).parents[1])}
    result = subprocess.run(
        [str(venv / "bin" / "python"), str(script), "0"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert field(result.stdout, "in_worker") == "False"


def test_killing_the_job_kills_its_worker(tmp_path, server):
    script = tmp_path / "job.py"
    script.write_text(textwrap.dedent(SCRIPT))
    (tmp_path / "work").mkdir()
    job = subprocess.Popen(
        [sys.executable, str(script), "0", "sleep"],
        cwd=tmp_path / "work",
        env={**os.environ, job_server.ENV_VAR: server},
        stdout=subprocess.PIPE,
        text=True,
    )
    started = tmp_path / "work" / "started"
    deadline = time.monotonic() + 30
    while not started.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    worker = int(field(job.stdout.readline(), "pid"))
    assert worker != job.pid
    job.send_signal(signal.SIGKILL)
    job.wait()
    deadline = time.monotonic() + 10
    while _alive(worker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(worker)


def test_server_exits_with_its_parent(tmp_path):
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, str(tmp_path / "server.log")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    address = parent.stdout.readline().decode().strip()
    assert run_job(tmp_path, address).returncode == 0
    parent.kill()  # no atexit: the server notices on its own
    parent.wait()
    deadline = time.monotonic() + 10
    while os.path.exists(address) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not os.path.exists(address)
    assert field(run_job(tmp_path, address).stdout, "in_worker") == "False"


def _alive(pid):
    try:
        with open(f"/proc/{pid}/status") as status:
            return "State:\tZ" not in status.read()
    except FileNotFoundError:
        return False


# A workflow whose onstart starts a server and lets Snakemake send it the script jobs itself.
SNAKEFILE = """
from image3 import job_server

onstart:
    job_server.start("server.log", first=(), preload=())
    assert job_server.take_over_script_jobs()

rule job:
    output: "{name}.txt"
    threads: 2
    benchmark: "{name}.tsv"
    script: "job_script.py"
"""

# Its job script: records where it ran and what it saw; a job named "fail" fails, one named "killed"
# is killed (SIGKILL).
SNAKEMAKE_SCRIPT = """
import os, sys, time
from image3.job_server import in_worker
with open(snakemake.output[0], "w") as out:
    print(in_worker(), os.getpid(), os.getppid(), os.environ["OMP_NUM_THREADS"], file=out)
held = b"x" * (60 << 20)  # 60 MiB written and held for a second: the benchmark measures this process
time.sleep(1.2)
if snakemake.wildcards.name == "killed":  # as the kernel's out-of-memory killer does
    os.kill(os.getpid(), 9)
sys.exit(3 if snakemake.wildcards.name == "fail" else 0)
"""


def run_workflow(workdir, *targets):
    (workdir / "Snakefile").write_text(SNAKEFILE)
    (workdir / "job_script.py").write_text(SNAKEMAKE_SCRIPT)
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "2", "--keep-going", *targets],
        cwd=workdir,
        capture_output=True,
        text=True,
    )


def test_snakemake_sends_script_jobs_to_the_server_itself(tmp_path):
    """No Python is started per job: the job's process is a child of the server, which is a child
    of Snakemake; the job's thread variables are set; a failing script fails its job (and only it);
    the benchmark measures the job's own process (60 MiB and more), not Snakemake's side; a job
    killed by SIGKILL (as by the out-of-memory killer) is explained in the run's log, once, and a
    job that fails otherwise is not."""
    result = run_workflow(tmp_path, "ok.txt", "fail.txt", "killed.txt")
    assert result.returncode != 0
    assert "Error in rule job" in result.stderr and "fail.txt" in result.stderr
    assert "returned non-zero exit status 3" in result.stderr
    assert result.stderr.count("most likely because the machine ran out of memory") == 1, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    in_worker, pid, parent, threads = (tmp_path / "ok.txt").read_text().split()[:4]
    assert (in_worker, threads) == ("True", "2")
    assert int(pid) != int(parent)  # forked by the server...
    assert "job server" in (tmp_path / "server.log").read_text()  # ...which served it
    assert not (tmp_path / "fail.txt").exists()
    benchmark = (tmp_path / "ok.tsv").read_text().splitlines()
    max_rss = float(dict(zip(benchmark[0].split("\t"), benchmark[1].split("\t"), strict=True))["max_rss"])
    assert max_rss > 60, benchmark


# --- the contract with Snakemake (job_server.SNAKEMAKE_INTERNALS, engage) ---------------------------

# A workflow whose onstart engages the server as the real one does (job_server.engage), in one of
# four cases (config "case"): all is well; a Snakemake without snakemake.benchmark.benchmarked; a
# server that dies before it is ready; a server gone once the run has started (its address no longer
# answers). Each job has its own tmpdir resource.
CONTRACT_SNAKEFILE = """
import os
import snakemake.benchmark
from image3 import job_server

onstart:
    case = config["case"]
    if case == "no benchmarked":
        del snakemake.benchmark.benchmarked
    first = ("server_dies",) if case == "server fails" else ("fixes_its_tmp",)
    job_server.engage(workflow, "server.log", first=first, preload=())
    if case == "server gone":
        os.environ[job_server.ENV_VAR] = os.path.abspath("gone.sock")

rule job:
    output: "{name}.txt"
    resources: tmpdir=config["tmpdir"]
    script: "contract_job.py"
"""

CONTRACT_SCRIPT = """
import os, tempfile
from image3.job_server import hand_off, in_worker
hand_off()
with open(snakemake.output[0], "w") as out:
    print(in_worker(), tempfile.gettempdir(), os.environ.get("TMPDIR"), file=out)
"""

# Modules the server imports before it is ready (its ``first``), from the work directory: one asks
# for the temporary folder, as the server's warm-up does (tempfile keeps the first answer); the
# other kills the server.
SERVER_MODULES = {
    "fixes_its_tmp.py": "import tempfile\ntempfile.gettempdir()\n",
    "server_dies.py": "import os\nos._exit(3)\n",
}


@pytest.mark.parametrize(
    ("case", "in_worker", "warning"),
    [
        ("engaged", "True", None),
        ("no benchmarked", "True", "lacks snakemake.benchmark:benchmarked(pid, benchmark_record), which"),
        ("server fails", "False", "did not start (its log: server.log)"),
        ("server gone", "False", "is gone (its log: logs/job_server.log in the outdir)"),
    ],
)
def test_each_job_sees_its_own_tmpdir_and_a_disengaged_hook_is_reported_once(
    tmp_path, case, in_worker, warning
):
    """Whether Snakemake sends its jobs to the server (engaged), each job's own Python hands itself
    to it (no benchmarked: the hook's internals missing), or no server serves them (failed, gone),
    the run completes, each job's temporary folder is its ``tmpdir`` resource, not the server's
    (before the fix every job run by the server had the server's, /tmp), and when the jobs do not
    go to the server from Snakemake itself the run's log says why, once (two jobs)."""
    job_tmp = tmp_path / "job_tmp"
    job_tmp.mkdir()
    (tmp_path / "Snakefile").write_text(CONTRACT_SNAKEFILE)
    (tmp_path / "contract_job.py").write_text(CONTRACT_SCRIPT)
    for name, text in SERVER_MODULES.items():
        (tmp_path / name).write_text(text)
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "2", "a.txt", "b.txt",
         "--config", f"case={case}", f"tmpdir={job_tmp}"],
        cwd=tmp_path, capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    for name in ("a", "b"):
        assert (tmp_path / f"{name}.txt").read_text().split() == [in_worker, str(job_tmp), str(job_tmp)]
    warnings = [line for line in result.stderr.splitlines() if "image3 job server:" in line]
    assert len(warnings) == (warning is not None), warnings
    if warning:
        assert warning in warnings[0]


def test_no_warning_where_no_job_runs_by_design(tmp_path):
    """With --touch no job runs and no server starts: nothing to report, even with an internal
    missing (as on a cluster, where the jobs run elsewhere)."""
    (tmp_path / "Snakefile").write_text(CONTRACT_SNAKEFILE)
    (tmp_path / "contract_job.py").write_text(CONTRACT_SCRIPT)
    for name in ("a.txt", "b.txt"):
        (tmp_path / name).touch()
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "2", "--touch", "--forceall", "a.txt", "b.txt",
         "--config", "case=no benchmarked", f"tmpdir={tmp_path}"],
        cwd=tmp_path, capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "image3 job server" not in result.stderr
    assert not (tmp_path / "server.log").exists()


def test_missing_snakemake_internals_are_named(monkeypatch):
    """Each internal the hook relies on is checked: the script runner's attributes (as its
    ``__init__`` arguments), ``execute_script``'s arguments, ``benchmarked``."""
    import snakemake.api  # noqa: F401 (snakemake.workflow imports only after it, as in a run)
    import snakemake.benchmark
    from snakemake.script import PythonScript

    assert job_server.missing_snakemake_internals() == []
    monkeypatch.setattr(PythonScript, "__init__", lambda self, *args, **kwargs: None)
    monkeypatch.setattr(PythonScript, "execute_script", lambda self, path: None)
    monkeypatch.delattr(snakemake.benchmark, "benchmarked")
    script = "snakemake.script:PythonScript."
    assert job_server.missing_snakemake_internals() == [
        f"{script}execute_script(self, fname, edit)",
        *(f"{script}{name}" for name in ("conda_env", "container_img", "env_modules", "threads")),
        *(f"{script}{name}" for name in ("resources", "bench_record")),
        "snakemake.benchmark:benchmarked(pid, benchmark_record)",
    ]
    assert not job_server.take_over_script_jobs()
