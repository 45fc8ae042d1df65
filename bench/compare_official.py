#!/usr/bin/env python
"""Benchmark the image3 workflow against the official STScI pipeline (calwebb_image3) on the same files.

One invocation:

1. makes (once; reused later) a virtual environment of its own with the official ``jwst`` package
   (``--venv``, default bench/runs/official-venv; ``jwst`` is never a dependency of this project);
2. simulates a demo dataset (N exposures of size² pixels, the association, and the APCORR and
   ABVEGAOFFSET reference files) with this workflow's simulator, in a Snakemake run of its own;
3. runs ``strun calwebb_image3 <asn.json>`` from that environment, offline (no CRDS server, no
   step-parameter references, the simulator's APCORR/ABVEGAOFFSET files as overrides, official
   defaults otherwise);
4. runs this workflow on the same association (``snakemake --config asn=<asn.json> outdir=...``);
5. times each side as one process tree with ``/usr/bin/time -v`` (wall clock, maximum RSS, which is
   the largest single process) and samples the summed RSS of the whole tree with psutil;
6. prints a Markdown report: totals, ratios ours/official, per-step times (official from the stpipe
   log's ``Step X running``/``Step X done`` lines, ours from Snakemake's benchmark TSVs grouped by
   official step), Snakemake's start-up, and sanity checks of both sides' products.

The two sides run one after the other (official first by default, ``--order``), never concurrently.
Units: seconds (s) for times, MiB (2^20 bytes) for memory.

Usage: python bench/compare_official.py --n-exposures 6 --size 1024 --cores 2 [--rev HEAD] [--keep]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import textwrap
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import yaml

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
import run_bench  # noqa: E402  (bench/ is not a package)

DEFAULT_REPO = BENCH.parent
JWST_VERSION = "3.0.0"  # newest jwst on PyPI that installs on Python 3.11 (checked 2026-12)
MARKER = ".compare_official"
DEMO_DIR = "demo"
OFFLINE_CRDS_URL = "http://127.0.0.1:9"  # discard port: nothing listens, connections are refused at once
STEP_RE = re.compile(
    r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) - stpipe\.step - INFO - "
    r"(?:Step (\w+) running with args|Step (\w+) done|(Step skipped)\.)"
)
LOG_TIME_RE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) - ")
SNAKEMAKE_TIME_RE = re.compile(r"^\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]$", re.M)
OFFICIAL_STEPS = ["assign_mtwcs", "tweakreg", "skymatch", "outlier_detection", "resample", "source_catalog"]
QA = "QA figures, preview (no official counterpart)"


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n-exposures", type=int, default=6, help="simulate.n_exposures (default 6)")
    p.add_argument("--size", type=int, default=1024, help="detector size: simulate.shape = [size, size]")
    p.add_argument(
        "--cores",
        type=int,
        default=2,
        help="snakemake --cores for our workflow and the simulation (default 2); the official "
        "pipeline is one process and uses one core",
    )
    p.add_argument("--workdir", type=Path, help="work directory (default bench/runs/official-<n>x<size>)")
    p.add_argument(
        "--repo",
        type=Path,
        default=DEFAULT_REPO,
        help=f"repository of the workflow to measure (default: this script's, {DEFAULT_REPO})",
    )
    p.add_argument(
        "--rev",
        help="measure this git revision of --repo: it is extracted to <workdir>/src (git archive) and put "
        "first on PYTHONPATH, so edits made meanwhile do not affect the run",
    )
    p.add_argument(
        "--venv", type=Path, default=BENCH / "runs" / "official-venv", help="official pipeline's venv"
    )
    p.add_argument(
        "--jwst-version", default=JWST_VERSION, help=f"jwst version to install (default {JWST_VERSION})"
    )
    p.add_argument(
        "--order",
        choices=["official-first", "ours-first"],
        default="official-first",
        help="which side runs first (default official-first); they never run concurrently",
    )
    p.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="rounds of both sides (default 1): the machine's speed drifts by 10 %% or more between "
        "runs, so the report adds each round's wall times and the median ratio; rounds alternate which "
        "side runs first, the last (the detailed report's) runs in --order",
    )
    p.add_argument("--skip-official", action="store_true", help="do not run the official pipeline")
    p.add_argument("--skip-ours", action="store_true", help="do not run our workflow")
    p.add_argument(
        "--keep",
        action="store_true",
        help="keep the data (FITS, ASDF, .snakemake); a later run with the same --workdir then reuses the "
        "simulated dataset. By default bulky files are deleted after the report",
    )
    p.add_argument("--markdown-out", type=Path, help="append the report to this file")
    p.add_argument("--snakemake", default="snakemake", help="snakemake executable (default: from PATH)")
    p.add_argument(
        "--wait-idle",
        type=float,
        default=0,
        metavar="S",
        help="before each timed run wait up to S s for the CPUs to be idle (default 0: do not wait)",
    )
    p.add_argument("--poll", type=float, default=0.2, help="RSS sampling interval in s (default 0.2)")
    args = p.parse_args(argv)
    args.repo = args.repo.resolve()
    if args.workdir is None:
        args.workdir = BENCH / "runs" / f"official-{args.n_exposures}x{args.size}"
    args.workdir = args.workdir.resolve()
    args.venv = args.venv.absolute()
    return args


def log(msg):
    print(f"[compare_official] {msg}", file=sys.stderr, flush=True)


# --- the official pipeline's environment ---------------------------------------------------------


def venv_versions(venv: Path) -> dict[str, str]:
    """Versions of the official pipeline's main packages in ``venv`` ({} if it has no jwst)."""
    code = (
        "import importlib.metadata as m, json\n"
        "out = {}\n"
        "for name in ('jwst', 'stpipe', 'stcal', 'stdatamodels', 'crds', 'drizzle', 'tweakwcs', "
        "'photutils', 'gwcs', 'astropy', 'numpy'):\n"
        "    try:\n"
        "        out[name] = m.version(name)\n"
        "    except m.PackageNotFoundError:\n"
        "        pass\n"
        "print(json.dumps(out))\n"
    )
    python = venv / "bin" / "python"
    if not python.exists():
        return {}
    out = subprocess.run([str(python), "-c", code], capture_output=True, text=True, env=_clean_env())
    return json.loads(out.stdout) if out.returncode == 0 else {}


def ensure_venv(venv: Path, version: str) -> dict[str, str]:
    """Create ``venv`` with ``jwst==version`` unless it already has that version; return its versions."""
    versions = venv_versions(venv)
    if versions.get("jwst") == version and (venv / "bin" / "strun").exists():
        return versions
    if not (venv / "bin" / "python").exists():
        log(f"creating {venv} (python -m venv)")
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    log(f"pip install jwst=={version} into {venv} (a few minutes)")
    with open(venv.parent / f"{venv.name}-install.log", "w") as out:
        subprocess.run(
            [str(venv / "bin" / "python"), "-m", "pip", "install", f"jwst=={version}"],
            check=True,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=_clean_env(),
        )
    versions = venv_versions(venv)
    if versions.get("jwst") != version:
        sys.exit(f"error: {venv} has jwst {versions.get('jwst')}, not {version}")
    return versions


def _clean_env(**extra) -> dict[str, str]:
    """The environment without PYTHONPATH (our snapshot must not shadow the venv's packages)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(extra)
    return env


def offline_env(crds_path: Path) -> dict[str, str]:
    """Environment that keeps stpipe and CRDS off the network.

    * ``STPIPE_DISABLE_CRDS_STEPPARS``: no ``pars-*`` step-parameter references are looked up;
    * ``CRDS_SERVER_URL`` on a local port nothing listens on: any CRDS call fails at once, locally;
    * ``CRDS_PATH``: an empty local cache (nothing is ever downloaded into it).

    Of calwebb_image3's steps only source_catalog declares reference files (APCORR, ABVEGAOFFSET);
    both are given as overrides, so no best-reference lookup happens.
    """
    crds_path.mkdir(parents=True, exist_ok=True)
    return _clean_env(
        STPIPE_DISABLE_CRDS_STEPPARS="True",
        CRDS_SERVER_URL=OFFLINE_CRDS_URL,
        CRDS_PATH=str(crds_path),
    )


# --- work directory and the simulated dataset ---------------------------------------------------


def prepare_workdir(workdir: Path, repo: Path):
    """Create ``workdir`` (or reuse one this script made); empty its per-run folders."""
    if workdir == repo or repo.is_relative_to(workdir):
        sys.exit(f"error: refusing to use {workdir} as work directory (it contains the repository)")
    if workdir.exists() and any(workdir.iterdir()) and not (workdir / MARKER).exists():
        sys.exit(f"error: {workdir} exists, is not empty and was not made by compare_official.py")
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / MARKER).write_text("work directory of bench/compare_official.py\n")
    for sub in ("official", "ours", "src"):
        shutil.rmtree(workdir / sub, ignore_errors=True)


def git_describe(repo: Path) -> str:
    out = subprocess.run(
        ["git", "-C", str(repo), "describe", "--always", "--dirty"], capture_output=True, text=True
    )
    return out.stdout.strip() or "?"


@dataclass
class Dataset:
    asn: Path
    product: str
    apcorr: Path
    abvegaoffset: Path


def simulate(args, src: Path, env: dict[str, str], configfiles=(), settings=None) -> Dataset:
    """Simulate the demo dataset in <workdir>/sim (Snakemake does nothing if it is up to date).

    ``configfiles``: config files read before the override (e.g. config/demo_nircam_lw.yaml);
    ``settings``: the override's ``simulate`` section (default: ``args.n_exposures`` of ``args.size``²).
    """
    sim = args.workdir / "sim"
    sim.mkdir(exist_ok=True)
    config = sim / "bench_config.yaml"
    if settings is None:
        settings = {"n_exposures": args.n_exposures, "shape": [args.size, args.size]}
    override = {"outdir": "results", "demo_dir": DEMO_DIR, "simulate": settings}
    config.write_text(yaml.safe_dump(override, sort_keys=False))
    merged = {}
    for path in configfiles:
        merged.update(yaml.safe_load(Path(path).read_text()).get("simulate", {}))
    merged.update(settings)
    # imports image3 from src (sys.path)
    targets = run_bench.simulation_targets(
        merged["n_exposures"], merged.get("detectors"), merged.get("visits", 1)
    )
    cmd = [
        args.snakemake,
        "--snakefile",
        str(src / "Snakefile"),
        "--directory",
        str(sim),
        "--configfile",
        *(str(path) for path in configfiles),
        str(config),
        "--cores",
        str(args.cores),
        *targets,
    ]
    log(f"simulating {sum(t.endswith('_cal.fits') for t in targets)} _cal files: {shlex.join(cmd)}")
    t0 = time.perf_counter()
    with open(sim / "snakemake_sim.log", "w") as out:
        rc = subprocess.run(cmd, cwd=sim, env=env, stdout=out, stderr=subprocess.STDOUT).returncode
    if rc:
        print(run_bench._read(sim / "snakemake_sim.log")[-4000:], file=sys.stderr)
        sys.exit(f"error: the simulation failed (exit {rc}), see {sim / 'snakemake_sim.log'}")
    log(f"simulation done in {time.perf_counter() - t0:.1f} s")
    asn = sim / targets[0]
    product = json.loads(asn.read_text())["products"][0]["name"]
    reference = sim / DEMO_DIR / "reference"
    return Dataset(
        asn=asn,
        product=product,
        apcorr=_one(reference.glob("*apcorr*.fits")),
        abvegaoffset=_one(reference.glob("*abvegaoffset*.asdf")),
    )


def _one(paths) -> Path:
    paths = sorted(paths)
    if len(paths) != 1:
        sys.exit(f"error: expected one reference file, found {[str(p) for p in paths]}")
    return paths[0]


# --- timed runs ----------------------------------------------------------------------------------


class TreeSampler(threading.Thread):
    """Sample the RSS of a process and all its descendants every ``interval`` s (psutil).

    Records the peak of the summed RSS (shared pages, e.g. libraries, are counted once per process,
    so the sum overstates the memory actually in use by them) and the largest single process's RSS
    seen. Peaks shorter than the interval can be missed.
    """

    def __init__(self, pid: int, interval: float):
        super().__init__(daemon=True)
        self.pid = pid
        self.interval = interval
        self.peak_sum = 0  # bytes
        self.peak_single = 0  # bytes
        self.peak_processes = 0  # most processes alive at once
        self.timeline: list[tuple[float, float, int]] = []  # (epoch s, tree's CPU s, summed RSS bytes)
        self.cpu = 0.0  # CPU s the sampling took
        self._halt = threading.Event()

    def sample(self):
        try:
            root = psutil.Process(self.pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            return
        total, cpu = 0, 0.0
        for proc in procs:
            try:
                with proc.oneshot():
                    rss = proc.memory_info().rss
                    times = proc.cpu_times()
            except psutil.Error:
                continue
            total += rss
            cpu += times.user + times.system
            self.peak_single = max(self.peak_single, rss)
        self.peak_sum = max(self.peak_sum, total)
        self.timeline.append((time.time(), cpu, total))
        self.peak_processes = max(self.peak_processes, len(procs))

    def run(self):
        t0 = time.thread_time()
        while not self._halt.is_set():
            self.sample()
            self._halt.wait(self.interval)
        self.cpu = time.thread_time() - t0

    def stop(self):
        self._halt.set()
        self.join()


@dataclass
class Side:
    name: str
    cmd: list[str]
    cwd: Path
    env: dict[str, str]
    log: Path
    returncode: int | None = None
    started: float | None = None  # epoch s
    wall: float | None = None  # s, measured here
    time_v: dict[str, str] = field(default_factory=dict)  # /usr/bin/time -v report
    peak_sum_mib: float | None = None
    peak_single_sampled_mib: float | None = None
    peak_processes: int | None = None
    timeline: list[tuple[float, float, int]] = field(default_factory=list)  # see TreeSampler
    job_peaks: dict[str, float] = field(default_factory=dict)  # Snakemake job script -> VmHWM MiB
    own_cpu: float | None = None  # CPU s of the timed tree (+ this script's sampling)
    other_cpu: float | None = None  # CPU s of all other processes meanwhile
    cpu_busy: float | None = None  # fraction of all CPUs busy

    @property
    def max_rss_mib(self) -> float | None:
        """/usr/bin/time's 'Maximum resident set size': the largest single process of the tree."""
        value = self.time_v.get("Maximum resident set size (kbytes)")
        return int(value) / 1024 if value else None

    @property
    def time_wall(self) -> float | None:
        """/usr/bin/time's 'Elapsed (wall clock) time' in s."""
        value = self.time_v.get("Elapsed (wall clock) time (h:mm:ss or m:ss)")
        if not value:
            return None
        seconds = 0.0
        for part in value.split(":"):
            seconds = seconds * 60 + float(part)
        return seconds


def parse_time_v(path: Path) -> dict[str, str]:
    out = {}
    for line in run_bench._read(path).splitlines():
        key, sep, value = line.strip().rpartition(": ")
        if sep:
            out[key] = value.strip()
    return out


def run_timed(side: Side, poll: float, max_wait: float, nproc: int) -> Side:
    """Run ``side.cmd`` under ``/usr/bin/time -v``, sampling its tree's RSS and the machine's CPU."""
    if max_wait > 0:
        run_bench.wait_idle(max_wait)
    time_file = side.log.with_suffix(".time")
    cmd = ["/usr/bin/time", "-v", "-o", str(time_file), *side.cmd]
    log(f"{side.name}: {shlex.join(side.cmd)}")
    hz = os.sysconf("SC_CLK_TCK")
    cpu0, own0 = run_bench.cpu_jiffies(), run_bench.own_cpu_seconds()
    with open(side.log, "w") as out:
        side.started = time.time()
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=side.cwd, env=side.env, stdout=out, stderr=subprocess.STDOUT)
        sampler = TreeSampler(proc.pid, poll)
        sampler.start()
        jobs = run_bench.PeakSampler(proc.pid, poll)  # VmHWM of Snakemake's job scripts, if any
        jobs.start()
        side.returncode = proc.wait()
        side.wall = time.perf_counter() - t0
        sampler.stop()
        jobs.stop()
    side.job_peaks = jobs.per_script()
    cpu1, own1 = run_bench.cpu_jiffies(), run_bench.own_cpu_seconds()
    side.time_v = parse_time_v(time_file)
    side.peak_sum_mib = sampler.peak_sum / 2**20
    side.peak_single_sampled_mib = sampler.peak_single / 2**20
    side.peak_processes = sampler.peak_processes
    side.timeline = sampler.timeline
    side.own_cpu = own1 - own0
    if cpu0 and cpu1 and cpu1[1] > cpu0[1]:
        side.cpu_busy = (cpu1[0] - cpu0[0]) / (cpu1[1] - cpu0[1])
        side.other_cpu = max(0.0, (cpu1[0] - cpu0[0]) / hz - side.own_cpu)
    status = "ok" if side.returncode == 0 else f"FAILED (exit {side.returncode})"
    log(f"{side.name}: {status} in {side.wall:.1f} s")
    if side.returncode:
        print("\n".join(run_bench._read(side.log).splitlines()[-40:]), file=sys.stderr)
    return side


def _reset(side: Side, keep=()):
    """Empty the side's work folder (but for the files named in ``keep``) before a further round."""
    for path in side.cwd.iterdir():
        if path.name in keep:
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()


def rounds_table(rounds) -> list[str]:
    """Each round's wall times and peak RSS, and the median ratio of the rounds."""
    out = ["| round | first | official wall s | ours wall s | ratio | official RSS MiB | ours RSS MiB |"]
    out.append("|---|---|---|---|---|---|---|")
    ratios = []
    for k, (first, sides) in enumerate(rounds, 1):
        (ow, orss, orc), (uw, urss, urc) = sides["official"], sides["ours"]
        if orc == 0 and urc == 0:
            ratios.append(uw / ow)
        walls = f"{_fmt(ow)} | {_fmt(uw)} | {_ratio(uw, ow)}"
        out.append(f"| {k} | {first} | {walls} | {_fmt(orss, 0)} | {_fmt(urss, 0)} |")
    if ratios:
        out += [
            "",
            f"Median wall-time ratio over {len(ratios)} rounds: **{statistics.median(ratios):.2f}** "
            f"(range {min(ratios):.2f}-{max(ratios):.2f}).",
        ]
    return out


# --- per-step figures ----------------------------------------------------------------------------


def _log_time(stamp: str) -> float:
    """An stpipe log time stamp (local time, '%Y-%m-%d %H:%M:%S,%f' in ms) as epoch s."""
    return datetime.datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").timestamp()


@dataclass
class OfficialSteps:
    steps: dict[str, float]  # step -> s from 'running' to 'done'
    windows: dict[str, tuple[float, float]]  # step -> (start, end) epoch s
    skipped: list[str]
    pipeline: float | None  # Image3Pipeline running -> done, s
    before: float | None  # process start -> first log line (interpreter, imports), s
    after: float | None  # Image3Pipeline done -> process end, s


def official_steps(side: Side) -> OfficialSteps:
    """Per-step wall times from the stpipe log lines 'Step <name> running with args ...' / 'Step <name>
    done' (stpipe.step, format '%(asctime)s - %(name)s - %(levelname)s - %(message)s')."""
    text = run_bench._read(side.log)
    started, steps, windows, skipped, last = {}, {}, {}, [], None
    first = None
    for line in text.splitlines():
        stamp = LOG_TIME_RE.match(line)
        if stamp and first is None:
            first = _log_time(stamp.group(1))
        match = STEP_RE.match(line)
        if not match:
            continue
        t = _log_time(match.group(1))
        if match.group(2):
            started[match.group(2)] = t
            last = match.group(2)
        elif match.group(3) and match.group(3) in started:
            steps[match.group(3)] = t - started[match.group(3)]
            windows[match.group(3)] = (started[match.group(3)], t)
        elif match.group(4) and last:
            skipped.append(last)
    pipeline = steps.pop("Image3Pipeline", None)
    end = None if side.started is None or side.wall is None else side.started + side.wall
    done = started.get("Image3Pipeline", 0) + pipeline if pipeline is not None else None
    return OfficialSteps(
        steps=steps,
        windows=windows,
        skipped=skipped,
        pipeline=pipeline,
        before=None if first is None or side.started is None else first - side.started,
        after=None if done is None or end is None else end - done,
    )


def window_usage(timeline, start: float, end: float) -> tuple[float | None, float | None]:
    """CPU s and peak summed RSS (MiB) of a timed tree between two epoch times, from its samples.

    CPU: the difference of the tree's CPU time at the first samples at or after ``start`` and
    ``end`` (so resolved to the sampling interval); RSS: the largest sample inside the window.
    """
    after_start = [cpu for t, cpu, _ in timeline if t >= start]
    after_end = [cpu for t, cpu, _ in timeline if t >= end] or [cpu for _, cpu, _ in timeline[-1:]]
    cpu = after_end[0] - after_start[0] if after_start and after_end else None
    rss = [r for t, _, r in timeline if start <= t <= end]
    return cpu, (max(rss) / 2**20 if rss else None)


def official_step_of(rule: str) -> str:
    """The official calwebb_image3 step a rule of ours belongs to (by name; QA rules apart)."""
    if rule.endswith("_qa") or rule == "preview":
        return QA
    if rule.startswith("tweakreg"):
        return "tweakreg"
    if rule == "crf" or rule.startswith("outlier"):
        return "outlier_detection"  # the official step writes the _crf files
    if rule.startswith("resample"):
        return "resample"
    if "catalog" in rule:
        return "source_catalog"
    if rule in OFFICIAL_STEPS:
        return rule
    return "other"


def first_job_delay(side: Side) -> float | None:
    """s from the start of snakemake to its first job's time stamp (1 s resolution)."""
    found = SNAKEMAKE_TIME_RE.search(run_bench._read(side.log))
    if not found or side.started is None:
        return None
    first = datetime.datetime.strptime(" ".join(found.group(1).split()), "%a %b %d %H:%M:%S %Y")
    return first.timestamp() - side.started


# --- sanity checks -------------------------------------------------------------------------------


def product_check(folder: Path, product: str) -> dict:
    """Whether the i2d and catalog exist; mosaic shape and number of catalog rows."""
    from astropy.io import fits
    from astropy.table import Table

    i2d = folder / f"{product}_i2d.fits"
    cat = folder / f"{product}_cat.ecsv"
    out = {"i2d": i2d.exists(), "cat": cat.exists(), "shape": None, "sources": None}
    if out["i2d"]:
        with fits.open(i2d) as hdul:
            out["shape"] = hdul["SCI"].shape
    if out["cat"]:
        out["sources"] = len(Table.read(cat, format="ascii.ecsv"))
    return out


# --- report --------------------------------------------------------------------------------------


_fmt = run_bench._fmt


def _ratio(ours, official, digits=2):
    return "–" if ours is None or not official else f"{ours / official:.{digits}f}"


def report(args, info, dataset, sides, jobs, checks, warnings) -> str:
    official, ours = sides["official"], sides["ours"]
    out = [f"## calwebb_image3 vs this workflow: {args.n_exposures} x {args.size}², --cores {args.cores}", ""]
    out.append(
        f"Run {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}; workflow at {info['git']}; "
        f"official: jwst {info['venv'].get('jwst', '?')} (stpipe {info['venv'].get('stpipe', '?')}, "
        f"stcal {info['venv'].get('stcal', '?')}, drizzle {info['venv'].get('drizzle', '?')}, "
        f"numpy {info['venv'].get('numpy', '?')})."
    )
    out.append("")
    out.append("```")
    out.append("python " + shlex.join([os.path.relpath(sys.argv[0], DEFAULT_REPO), *sys.argv[1:]]))
    out.append("```")
    out.append("")
    out += textwrap.wrap(
        f"Machine: {info['host']}, {info['nproc']} CPUs ({info['cpu']}), MemTotal "
        f"{_fmt(info['mem_total_gib'])} GiB, Linux {info['kernel']}, Python {info['python']}. "
        f"Order: {args.order} (one after the other). The official pipeline is one process (one core); "
        f"ours runs up to {args.cores} jobs at once.",
        width=100,
    )
    out.append("")
    out.append("| | official | ours | ours / official |")
    out.append("|---|---|---|---|")
    rows = [
        ("wall s", official.wall, ours.wall, 1),
        ("peak RSS MiB, largest process (/usr/bin/time)", official.max_rss_mib, ours.max_rss_mib, 0),
        ("peak RSS MiB, whole tree (sampled sum)", official.peak_sum_mib, ours.peak_sum_mib, 0),
        ("CPU s (user + sys)", _cpu(official), _cpu(ours), 1),
    ]
    for label, a, b, digits in rows:
        out.append(f"| {label} | {_fmt(a, digits)} | {_fmt(b, digits)} | {_ratio(b, a)} |")
    startup = _startup(ours)
    if startup is not None and ours.wall:
        out.append(
            f"| wall s without Snakemake's start-up | {_fmt(official.wall)} | {_fmt(ours.wall - startup)} "
            f"| {_ratio(ours.wall - startup, official.wall)} |"
        )
    out.append(
        f"| processes alive at once (most) | {official.peak_processes or '–'} "
        f"| {ours.peak_processes or '–'} | |"
    )
    out.append(
        f"| other processes' CPU s meanwhile | {_fmt(official.other_cpu)} | {_fmt(ours.other_cpu)} | |"
    )
    out.append(f"| result | {_result(official)} | {_result(ours)} | |")
    out.append("")
    if len(info.get("rounds", ())) > 1:
        out += rounds_table(info["rounds"])
        out.append("")
    steps = official_steps(official) if official.returncode is not None else None
    if steps:
        out += textwrap.wrap(
            f"Official: {_fmt(steps.pipeline)} s in Image3Pipeline (its 'running' to 'done' log lines), "
            f"{_fmt(steps.before)} s before its first log line (interpreter, imports, reading the step "
            f"specs), {_fmt(steps.after)} s after 'done' (exit)."
            + (f" Skipped steps: {', '.join(steps.skipped)}." if steps.skipped else ""),
            width=100,
        )
        out.append("")
    if ours.returncode is not None:
        elapsed = run_bench.snakemake_elapsed(ours.log)
        out += textwrap.wrap(
            f"Ours: Snakemake's 'Elapsed time' {_fmt(elapsed)} s, so {_fmt(startup)} s of start-up "
            f"(imports, executor plugins, parsing the workflow); first job's time stamp "
            f"{_fmt(first_job_delay(ours))} s after the start (1 s resolution).",
            width=100,
        )
        out.append("")
    out += textwrap.wrap(
        "Per step. Official: the step's wall s in its one process, and from the RSS/CPU samples of that "
        "process its CPU s and peak RSS during the step. Ours: the rules' jobs, summed (wall and CPU s "
        "from Snakemake's benchmark files), and the largest peak RSS (VmHWM) of one of their jobs:",
        width=100,
    )
    out.append("")
    out.append(
        "| official step | official s | official CPU s | official peak RSS MiB | our rules (jobs) "
        "| our job wall s (sum) | our job CPU s | our largest job RSS MiB |"
    )
    out.append("|---|---|---|---|---|---|---|---|")
    groups: dict[str, list] = {}
    for job in jobs:
        groups.setdefault(official_step_of(job.rule), []).append(job)
    names = [s for s in OFFICIAL_STEPS if (steps and s in steps.steps) or s in groups]
    names += [g for g in groups if g not in names]
    for name in names:
        mine = groups.get(name, [])
        rules: dict[str, int] = {}
        for job in mine:
            rules[job.rule] = rules.get(job.rule, 0) + 1
        listing = ", ".join(f"{r} ({n})" for r, n in rules.items()) or "–"
        cpu = [j.cpu_time for j in mine if j.cpu_time is not None]
        hwm = [ours.job_peaks[r] for r in rules if r in ours.job_peaks]
        hwm += [j.peak_rss for j in mine if j.peak_rss is not None]  # jobs the job server ran
        official_cpu = official_rss = None
        if steps and name in steps.windows:
            official_cpu, official_rss = window_usage(official.timeline, *steps.windows[name])
        official_s = "skipped" if steps and name in steps.skipped else _fmt(steps and steps.steps.get(name))
        out.append(
            f"| {name} | {official_s} | {_fmt(official_cpu)} | {_fmt(official_rss, 0)} | {listing} "
            f"| {_fmt(sum(j.wall for j in mine) if mine else None)} | {_fmt(sum(cpu) if cpu else None)} "
            f"| {_fmt(max(hwm) if hwm else None, 0)} |"
        )
    total_official = sum(steps.steps.values()) if steps and steps.steps else None
    cpu = [j.cpu_time for j in jobs if j.cpu_time is not None]
    out.append(
        f"| **sum** | {_fmt(total_official)} | | | {len(jobs)} jobs "
        f"| {_fmt(sum(j.wall for j in jobs) if jobs else None)} "
        f"| {_fmt(sum(cpu) if cpu else None)} | |"
    )
    out.append("")
    out.append("Sanity checks (products of both sides):")
    out.append("")
    out.append("| | i2d | i2d shape (ny, nx) | catalog | sources in catalog |")
    out.append("|---|---|---|---|---|")
    for name, check in checks.items():
        out.append(
            f"| {name} | {'yes' if check['i2d'] else '**missing**'} | {check['shape'] or '–'} "
            f"| {'yes' if check['cat'] else '**missing**'} "
            f"| {'–' if check['sources'] is None else check['sources']} |"
        )
    out.append("")
    out.append(f"Data: `{dataset.asn.relative_to(args.workdir)}` (under the work directory).")
    out.append("")
    for warning in warnings:
        out.append(f"**Warning:** {warning}")
        out.append("")
    return "\n".join(out)


def _cpu(side: Side) -> float | None:
    try:
        return float(side.time_v["User time (seconds)"]) + float(side.time_v["System time (seconds)"])
    except (KeyError, ValueError):
        return None


def _startup(side: Side) -> float | None:
    elapsed = run_bench.snakemake_elapsed(side.log) if side.returncode is not None else None
    return None if elapsed is None or side.wall is None else side.wall - elapsed


def _result(side: Side) -> str:
    if side.returncode is None:
        return "not run"
    return "ok" if side.returncode == 0 else f"**FAILED** (exit {side.returncode})"


# --- main ----------------------------------------------------------------------------------------


def main(argv=None):
    args = parse_args(argv)
    workdir = args.workdir
    prepare_workdir(workdir, args.repo)
    info = run_bench.machine_info(args.snakemake)
    info["venv"] = {} if args.skip_official else ensure_venv(args.venv, args.jwst_version)

    if args.rev:
        src, commit = run_bench.snapshot(args.rev, workdir, args.repo)
        info["git"] = f"{commit[:10]} ({args.rev}, extracted to src/)"
    else:
        src = args.repo
        info["git"] = f"{git_describe(args.repo)} (working tree of {args.repo})"
    # The jobs import image3 from src, not from wherever the project is installed.
    ours_env = dict(
        os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(src), os.environ.get("PYTHONPATH")]))
    )
    sys.path.insert(0, str(src))
    dataset = simulate(args, src, ours_env)

    official_dir, ours_dir = workdir / "official", workdir / "ours"
    official_dir.mkdir()
    ours_dir.mkdir()
    official = Side(
        "official",
        [
            str(args.venv / "bin" / "strun"),
            "calwebb_image3",
            str(dataset.asn),
            f"--output_dir={official_dir}",
            f"--steps.source_catalog.override_apcorr={dataset.apcorr}",
            f"--steps.source_catalog.override_abvegaoffset={dataset.abvegaoffset}",
        ],
        official_dir,
        offline_env(workdir / "crds_cache"),
        official_dir / "calwebb_image3.log",
    )
    ours_config = ours_dir / "compare_config.yaml"
    ours_config.write_text(
        yaml.safe_dump(
            {"source_catalog": {"apcorr": str(dataset.apcorr), "abvegaoffset": str(dataset.abvegaoffset)}}
        )
    )
    ours = Side(
        "ours",
        [
            args.snakemake,
            "--snakefile",
            str(src / "Snakefile"),
            "--directory",
            str(ours_dir),
            "--cores",
            str(args.cores),
            "--configfile",
            str(ours_config),
            "--config",
            f"asn={dataset.asn}",
            "outdir=results",
        ],
        ours_dir,
        ours_env,
        ours_dir / "snakemake.log",
    )
    sides = {"official": official, "ours": ours}
    order = ["official", "ours"] if args.order == "official-first" else ["ours", "official"]
    rounds = []
    for k in range(args.repeat):
        round_order = order if (args.repeat - 1 - k) % 2 == 0 else order[::-1]
        for name in round_order:
            if not getattr(args, f"skip_{name}"):
                if k:
                    _reset(sides[name], keep={ours_config.name})
                run_timed(sides[name], args.poll, args.wait_idle, info["nproc"])
        rounds.append((round_order[0], {n: (s.wall, s.max_rss_mib, s.returncode) for n, s in sides.items()}))
    info["rounds"] = rounds

    rules = run_bench.list_rules(ours.cmd, ours_dir, ours_env) if ours.returncode is not None else set()
    bench_root = ours_dir / "results" / "benchmarks"
    jobs = run_bench.read_benchmarks(bench_root, rules) if bench_root.exists() else []
    checks = {}
    if official.returncode is not None:
        checks["official"] = product_check(official_dir, dataset.product)
    if ours.returncode is not None:
        checks["ours"] = product_check(ours_dir / "results" / dataset.product, dataset.product)

    warnings = []
    for side in sides.values():
        if side.other_cpu is not None and side.wall and side.other_cpu > 0.05 * side.wall * info["nproc"]:
            warnings.append(
                f"other processes used {side.other_cpu:.1f} CPU s during the {side.name} run "
                f"({100 * side.other_cpu / (side.wall * info['nproc']):.0f}% of the machine): "
                "its times are inflated"
            )
        if side.returncode:
            warnings.append(f"the {side.name} run failed (exit {side.returncode}), see {side.log}")
    text = report(args, info, dataset, sides, jobs, checks, warnings)
    print(text)
    (workdir / "report.md").write_text(text + "\n")
    if args.markdown_out:
        with open(args.markdown_out, "a") as f:
            f.write(text + "\n\n")
    if not args.keep:
        run_bench.clean_products(workdir)
    ran = [s for s in sides.values() if s.returncode is not None]
    return 0 if all(s.returncode == 0 for s in ran) else 1


if __name__ == "__main__":
    sys.exit(main())
