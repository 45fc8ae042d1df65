#!/usr/bin/env python
"""Benchmark the image3 workflow on a simulated demo dataset.

Creates a fresh work directory, writes an override config there (simulate.n_exposures,
simulate.shape, outdir, demo_dir), then runs Snakemake twice, timing each run:

1. the simulation: the demo's association file and _cal files as targets;
2. the pipeline: the default target (everything after the simulation).

Afterwards every Snakemake benchmark TSV of the run is read and summarised per rule as a Markdown
table (simulation rules separately from pipeline rules). Two cross-checks are added that
Snakemake's files do not give:

* the time each job spent inside its script's main() (the ``done in X s`` line image3.jobs.run
  writes to the job's log), so the rest of the job's wall time is start-up: the interpreter,
  imports, Snakemake's script preamble;
* the exact peak RSS of each job's Python process (``VmHWM`` from /proc, polled while the jobs
  run). Snakemake samples memory only every 0.5 s for the first ~15 s of a job and then every
  30 s, so its max_rss can miss a short peak of a longer job.

Usage: python bench/run_bench.py --n-exposures 6 --size 2048 --cores 2 [--workdir DIR] [--keep] [--rev REV]
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import os
import platform
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

import yaml

REPO = Path(__file__).resolve().parents[1]
MARKER = ".run_bench"
OUTDIR = "results"
DEMO_DIR = "demo"
SCRIPT_RE = re.compile(r"\.snakemake/scripts/tmp[^/\s]*?\.([A-Za-z0-9_]+)\.py\b")
DONE_RE = re.compile(r"\bdone in ([0-9.]+) s\b")
# What a job run by the workflow's job server logs about its own (forked) process; Snakemake's
# benchmark file then measures only the job's waiting process.
PROCESS_RE = re.compile(r"\bdone in [0-9.]+ s \(process: ([0-9.]+) CPU s, peak RSS ([0-9.]+) MiB\)")
IN_SERVER = "running in the workflow's job server"


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n-exposures", type=int, default=6, help="simulate.n_exposures (default 6)")
    p.add_argument("--size", type=int, default=1024, help="detector size: simulate.shape = [size, size]")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a further config setting, dotted key and YAML value, e.g. 'simulate.mosaic=[6, 4]' or "
        "'tiles.size=1024' (repeatable)",
    )
    p.add_argument("--cores", type=int, default=2, help="snakemake --cores (default 2)")
    p.add_argument(
        "--workdir",
        type=Path,
        help="work directory, recreated on each run (default bench/runs/<n>x<size>)",
    )
    p.add_argument(
        "--keep",
        action="store_true",
        help="keep the data products (FITS, ASDF, .snakemake); by default they are deleted after the "
        "report and only the config, logs, benchmark TSVs and report stay",
    )
    p.add_argument(
        "--rev",
        help="benchmark this git revision (e.g. HEAD) of the repository instead of the working tree: "
        "it is extracted to <workdir>/src and put first on PYTHONPATH, so edits made meanwhile do not "
        "affect the run",
    )
    p.add_argument("--markdown-out", type=Path, help="append the result section to this file")
    p.add_argument("--snakemake", default="snakemake", help="snakemake executable (default: from PATH)")
    p.add_argument(
        "--snakemake-args",
        default="",
        help="extra arguments for both snakemake runs, one string (e.g. '--resources mem_mb=30000')",
    )
    p.add_argument(
        "--wait-idle",
        type=float,
        default=0,
        metavar="S",
        help="before each snakemake run wait up to S s for the CPUs to be idle (default 0: do not wait)",
    )
    p.add_argument("--poll", type=float, default=0.2, help="/proc polling interval in s (default 0.2)")
    args = p.parse_args(argv)
    if args.workdir is None:
        args.workdir = REPO / "bench" / "runs" / f"{args.n_exposures}x{args.size}"
    args.workdir = args.workdir.resolve()
    return args


# --- machine -------------------------------------------------------------------------------------


def _read(path):
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def machine_info(snakemake_exe):
    info = {}
    info["host"] = platform.node()
    info["nproc"] = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    info["cpu_count"] = os.cpu_count()
    model = re.search(r"^model name\s*:\s*(.+)$", _read("/proc/cpuinfo"), re.M)
    info["cpu"] = model.group(1).strip() if model else platform.processor() or "?"
    mem = re.search(r"^MemTotal:\s*(\d+) kB", _read("/proc/meminfo"), re.M)
    info["mem_total_gib"] = int(mem.group(1)) / 1024**2 if mem else None
    cgroup = _read("/sys/fs/cgroup/memory.max").strip()
    info["cgroup_memory_max"] = f"{int(cgroup) / 1024**3:.1f} GiB" if cgroup.isdigit() else (cgroup or "n/a")
    info["kernel"] = platform.release()
    info["python"] = platform.python_version()
    try:
        t0 = time.perf_counter()
        out = subprocess.run([snakemake_exe, "--version"], capture_output=True, text=True, check=True)
        info["snakemake_version_s"] = time.perf_counter() - t0
        info["snakemake"] = out.stdout.strip()
    except (OSError, subprocess.CalledProcessError) as err:
        info["snakemake"] = f"? ({err})"
    try:
        out = subprocess.run(
            ["git", "-C", str(REPO), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            check=True,
        )
        info["git"] = out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        info["git"] = "?"
    return info


# --- work directory ------------------------------------------------------------------------------


def snakemake_command(snakemake: list[str], src: Path, workdir: Path, override: Path, *extra) -> list[str]:
    """``snakemake`` (the command's words) on the workflow of ``src`` in ``workdir`` with the
    override config, then ``extra``."""
    return [
        *snakemake,
        "--snakefile",
        str(src / "Snakefile"),
        "--directory",
        str(workdir),
        "--configfile",
        str(override),
        *extra,
    ]


def fresh_workdir(workdir: Path):
    """Remove and recreate ``workdir``; refuse to delete a directory this script did not create."""
    if workdir == REPO or REPO.is_relative_to(workdir):
        sys.exit(f"error: refusing to use {workdir} as work directory (it contains the repository)")
    if workdir.exists():
        if any(workdir.iterdir()) and not (workdir / MARKER).exists():
            sys.exit(f"error: {workdir} exists, is not empty and was not made by run_bench.py; remove it")
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    (workdir / MARKER).write_text("work directory of bench/run_bench.py; deleted on the next run\n")


def write_override(workdir: Path, n_exposures: int, size: int, settings=()) -> Path:
    override = {
        "outdir": OUTDIR,
        "demo_dir": DEMO_DIR,
        "simulate": {"n_exposures": n_exposures, "shape": [size, size]},
    }
    for setting in settings:
        key, _, value = setting.partition("=")
        *sections, last = key.strip().split(".")
        node = override
        for section in sections:
            node = node.setdefault(section, {})
        node[last] = yaml.safe_load(value)
    path = workdir / "bench_config.yaml"
    path.write_text(yaml.safe_dump(override, sort_keys=False))
    return path


def snapshot(rev: str, workdir: Path, repo: Path = REPO) -> tuple[Path, str]:
    """Extract ``rev`` of ``repo`` (default: this one) to ``<workdir>/src``; return the directory and
    the commit."""
    commit = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "--verify", f"{rev}^{{commit}}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    src = workdir / "src"
    src.mkdir()
    archive = subprocess.Popen(["git", "-C", str(repo), "archive", commit], stdout=subprocess.PIPE)
    subprocess.run(["tar", "-x", "-C", str(src)], stdin=archive.stdout, check=True)
    archive.stdout.close()
    if archive.wait():
        sys.exit(f"error: git archive {commit} failed")
    return src, commit


def simulation_targets(n_exposures: int, detectors=None, visits: int = 1) -> list[str]:
    """The demo's association, _cal and reference files, named as rules/common.smk names them
    (``detectors``: simulate.detectors, one _cal file per exposure and detector; ``visits``:
    simulate.visits)."""
    from image3.simulate import demo

    names = demo.exposure_names(n_exposures, detectors, visits)
    files = [
        demo.association_name(),
        *(f"{n}_cal.fits" for n in names),
        *demo.reference_file_names().values(),
    ]
    return [f"{DEMO_DIR}/{f}" for f in files]


def clean_products(workdir: Path):
    """Delete the bulky files of a run (FITS, ASDF, Snakemake's state, the snapshot); keep text files."""
    for folder in workdir.rglob(".snakemake"):
        shutil.rmtree(folder, ignore_errors=True)
    shutil.rmtree(workdir / "src", ignore_errors=True)
    for pattern in ("*.fits", "*.asdf", "*.png"):
        for path in workdir.rglob(pattern):
            path.unlink()


# --- peak memory from /proc ----------------------------------------------------------------------


class PeakSampler(threading.Thread):
    """Poll the descendants of a process; record each job script's exact peak RSS (VmHWM).

    Snakemake runs a ``script:`` job as ``python .snakemake/scripts/tmpXXXX.<script>.py``; VmHWM is
    the kernel's high-water mark of that process's RSS, so polling only has to catch the process
    alive (a job shorter than the poll interval may be missed, its last interval's growth too).
    """

    def __init__(self, root_pid: int, interval: float, work_glob: Path | None = None):
        super().__init__(daemon=True)
        self.root_pid = root_pid
        self.interval = interval
        self.peaks: dict[int, tuple[str, float]] = {}  # pid -> (script, VmHWM MiB)
        self.work_glob = work_glob  # e.g. <workdir>/results/*/work: their summed size is sampled
        self.work_peak_mib = 0.0
        self._halt = threading.Event()
        self.cpu = 0.0  # CPU s the polling took

    def stop(self):
        self._halt.set()
        self.join()

    def _children(self):
        parent = {}
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            stat = _read(f"/proc/{entry.name}/stat")
            # the command name (2nd field) is parenthesised and may contain spaces
            rest = stat.rpartition(")")[2].split()
            if len(rest) > 1:
                parent[int(entry.name)] = int(rest[1])
        found, frontier = set(), {self.root_pid}
        while frontier:
            frontier = {pid for pid, ppid in parent.items() if ppid in frontier} - found
            found |= frontier
        return found

    def sample(self):
        for pid in self._children():
            if pid in self.peaks:
                script = self.peaks[pid][0]
            else:
                cmdline = _read(f"/proc/{pid}/cmdline").replace("\0", " ")
                match = SCRIPT_RE.search(cmdline)
                if not match:
                    continue
                script = match.group(1)
            hwm = re.search(r"^VmHWM:\s*(\d+) kB", _read(f"/proc/{pid}/status"), re.M)
            if hwm:
                mib = int(hwm.group(1)) / 1024
                self.peaks[pid] = (script, max(mib, self.peaks.get(pid, (script, 0.0))[1]))

    def run(self):
        t0 = time.thread_time()
        self._run()
        self.cpu = time.thread_time() - t0

    def _run(self):
        last_disk = 0.0
        while not self._halt.is_set():
            try:
                self.sample()
            except OSError:
                pass
            if self.work_glob is not None and time.monotonic() - last_disk > 1.0:
                self.work_peak_mib = max(self.work_peak_mib, folders_size_mib(self.work_glob))
                last_disk = time.monotonic()
            self._halt.wait(self.interval)

    def per_script(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for script, mib in self.peaks.values():
            out[script] = max(out.get(script, 0.0), mib)
        return out


def folders_size_mib(pattern: Path) -> float:
    """Summed size (MiB) of the files under the folders matching ``pattern`` (a glob)."""
    total = 0
    for folder in Path(pattern.anchor).glob(str(pattern.relative_to(pattern.anchor))):
        for dirpath, _, files in os.walk(folder):
            for name in files:
                try:
                    total += os.stat(os.path.join(dirpath, name)).st_size
                except OSError:  # removed meanwhile (a temporary file)
                    pass
    return total / 2**20


# --- running -------------------------------------------------------------------------------------


@dataclass
class Phase:
    name: str
    cmd: list[str]
    log: Path
    returncode: int | None = None
    wall: float | None = None
    started: float | None = None
    peaks: dict[str, float] = field(default_factory=dict)
    cpu_busy: float | None = None  # fraction of all CPUs busy (any process) during the run
    own_cpu: float | None = None  # CPU s of snakemake and its jobs (and of this script)
    poll_cpu: float | None = None  # of which the /proc polling
    other_cpu: float | None = None  # CPU s of every other process on the machine meanwhile
    work_peak_mib: float | None = None  # largest summed size of the products' work/ folders


def cpu_jiffies():
    """(busy, total) jiffies summed over all CPUs, from /proc/stat; None if unreadable."""
    fields = [int(x) for x in _read("/proc/stat").split("\n", 1)[0].split()[1:]]
    if len(fields) < 8:
        return None
    idle = fields[3] + fields[4]  # idle + iowait
    total = sum(fields[:8])  # user nice system idle iowait irq softirq steal (guest is in user)
    return total - idle, total


def own_cpu_seconds():
    """CPU s used by this process and its waited-for descendants so far."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def wait_idle(max_wait: float, threshold: float = 0.15, settle: int = 5):
    """Wait (up to ``max_wait`` s) until other processes leave the CPUs idle for ``settle`` s."""
    deadline = time.monotonic() + max_wait
    quiet = 0
    while time.monotonic() < deadline and quiet < settle:
        before = cpu_jiffies()
        time.sleep(1)
        after = cpu_jiffies()
        if not before or not after or after[1] == before[1]:
            return True
        busy = (after[0] - before[0]) / (after[1] - before[1])
        quiet = quiet + 1 if busy < threshold else 0
    if quiet < settle:
        print(f"[run_bench] machine still busy after {max_wait:.0f} s; running anyway", file=sys.stderr)
    return quiet >= settle


def snakemake_elapsed(log: Path) -> float | None:
    """Snakemake's own 'Elapsed time' (from the DAG's start to the end, without its start-up)."""
    found = re.findall(r"^Elapsed time: (?:(\d+) days?, )?(\d+):(\d\d):(\d\d(?:\.\d*)?)", _read(log), re.M)
    if not found:
        return None
    days, h, m, sec = found[-1]
    return int(days or 0) * 86400 + int(h) * 3600 + int(m) * 60 + float(sec)


def run_phase(phase: Phase, workdir: Path, poll: float, max_wait: float, env=None) -> Phase:
    if max_wait > 0:
        wait_idle(max_wait)
    print(f"[run_bench] {phase.name}: {shlex.join(phase.cmd)}", file=sys.stderr, flush=True)
    hz = os.sysconf("SC_CLK_TCK")
    cpu0, own0 = cpu_jiffies(), own_cpu_seconds()
    with open(phase.log, "w") as log:
        phase.started = time.time()
        t0 = time.perf_counter()
        proc = subprocess.Popen(phase.cmd, cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT)
        sampler = PeakSampler(proc.pid, poll, workdir / OUTDIR / "*" / "work")
        sampler.start()
        phase.returncode = proc.wait()
        phase.wall = time.perf_counter() - t0
        sampler.stop()
    cpu1, own1 = cpu_jiffies(), own_cpu_seconds()
    phase.peaks = sampler.per_script()
    phase.poll_cpu = sampler.cpu
    phase.work_peak_mib = sampler.work_peak_mib
    phase.own_cpu = own1 - own0
    if cpu0 and cpu1 and cpu1[1] > cpu0[1]:
        phase.cpu_busy = (cpu1[0] - cpu0[0]) / (cpu1[1] - cpu0[1])
        phase.other_cpu = max(0.0, (cpu1[0] - cpu0[0]) / hz - phase.own_cpu)
    status = "ok" if phase.returncode == 0 else f"FAILED (exit {phase.returncode})"
    print(f"[run_bench] {phase.name}: {status} in {phase.wall:.1f} s", file=sys.stderr, flush=True)
    if phase.returncode:
        tail = phase.log.read_text().splitlines()[-40:]
        print("\n".join(tail), file=sys.stderr)
    return phase


# --- benchmark files -----------------------------------------------------------------------------


@dataclass
class Job:
    rule: str
    path: Path
    wall: float
    max_rss: float | None
    cpu_time: float | None
    in_main: float | None
    mtime: float
    peak_rss: float | None = None  # MiB, the job's own process (VmHWM), from its log


def _float(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return None  # "NA" or missing


def rule_of(path: Path, root: Path, rules: set[str]) -> str:
    """A benchmark file's rule: its name or the nearest enclosing directory that is a rule name."""
    rel = path.relative_to(root)
    for name in (rel.stem, *reversed(rel.parent.parts)):
        if name in rules:
            return name
    return rel.parent.name if rel.parent.parts else rel.stem


def job_log(bench_path: Path, root: Path) -> str:
    """The text of a benchmark file's job log (same relative path under logs/, .log), or ''."""
    return _read(root.parent / "logs" / bench_path.relative_to(root).with_suffix(".log"))


def in_main_seconds(log_text: str) -> float | None:
    """Seconds in the script's main(): the last 'done in X s' line of the job's log, if any."""
    found = DONE_RE.findall(log_text)
    return float(found[-1]) if found else None


def read_benchmarks(root: Path, rules: set[str]) -> list[Job]:
    """One Job per benchmark row; for a job the job server ran, its CPU time adds the forked
    process's (from the log) and its peak RSS is that process's."""
    jobs = []
    for path in sorted(root.rglob("*.tsv")):
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f, delimiter="\t"))
        text = job_log(path, root)
        process = PROCESS_RE.findall(text)
        served = IN_SERVER in text and process
        for row in rows:  # one row per repeat (benchmark: repeat("...", n))
            cpu = _float(row.get("cpu_time"))
            if served:
                cpu = (cpu or 0.0) + float(process[-1][0])
            jobs.append(
                Job(
                    rule=rule_of(path, root, rules),
                    path=path,
                    wall=float(row["s"]),
                    max_rss=_float(row.get("max_rss")),
                    cpu_time=cpu,
                    in_main=in_main_seconds(text),
                    mtime=path.stat().st_mtime,
                    peak_rss=float(process[-1][1]) if process else None,
                )
            )
    return jobs


def list_rules(snakemake_cmd: list[str], workdir: Path, env=None) -> set[str]:
    out = subprocess.run(
        [*snakemake_cmd, "--list-rules"], cwd=workdir, env=env, capture_output=True, text=True
    )
    names = {line.strip() for line in out.stdout.splitlines()}
    return {n for n in names if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", n)}


# --- report --------------------------------------------------------------------------------------


def _fmt(value, digits=1):
    return "–" if value is None else f"{value:.{digits}f}"


def _max(values):
    values = [v for v in values if v is not None]
    return max(values) if values else None


def _mean(values):
    values = [v for v in values if v is not None]
    return statistics.fmean(values) if values else None


def rule_table(jobs: list[Job], peaks: dict[str, float], order: list[str]) -> list[str]:
    header = (
        "| rule | jobs | total wall s | max wall s/job | mean in main() s/job | mean start-up s/job "
        "| total CPU s | max_rss MiB (Snakemake) | peak RSS MiB (VmHWM) |"
    )
    lines = [header, "|" + "---|" * 9]
    rules = sorted({j.rule for j in jobs}, key=lambda r: (order.index(r) if r in order else len(order), r))
    for rule in rules:
        mine = [j for j in jobs if j.rule == rule]
        startup = [j.wall - j.in_main for j in mine if j.in_main is not None]
        cpu = [j.cpu_time for j in mine if j.cpu_time is not None]
        lines.append(
            f"| {rule} | {len(mine)} | {sum(j.wall for j in mine):.1f} | {max(j.wall for j in mine):.1f} "
            f"| {_fmt(_mean([j.in_main for j in mine]), 2)} | {_fmt(_mean(startup), 2)} "
            f"| {_fmt(sum(cpu) if cpu else None)} | {_fmt(_max([j.max_rss for j in mine]), 0)} "
            f"| {_fmt(_max([peaks.get(rule), *(j.peak_rss for j in mine)]), 0)} |"
        )
    lines.append(
        f"| **sum** | {len(jobs)} | {sum(j.wall for j in jobs):.1f} | | | | "
        f"{_fmt(sum(j.cpu_time for j in jobs if j.cpu_time is not None))} | "
        f"{_fmt(_max([j.max_rss for j in jobs]), 0)} | "
        f"{_fmt(_max([*(peaks.get(r) for r in rules), *(j.peak_rss for j in jobs)]), 0)} |"
    )
    return lines


SIM_ORDER = ["simulate_plan", "simulate_exposure", "simulate_association"]
PIPE_ORDER = [
    "tweakreg_catalog",
    "tweakreg",
    "skymatch",
    "outlier_detection",
    "crf",
    "resample_grid",
    "resample",
    "source_catalog",
]  # rules not listed come last, by name


def fixed_cost_summary(jobs: list[Job]) -> str:
    """Median and largest per-job fixed cost (wall time minus time in main()) over ``jobs``."""
    costs = sorted((j.wall - j.in_main, j.rule) for j in jobs if j.in_main is not None)
    if not costs:
        return "Fixed cost per job: no job logs with a 'done in' line."
    median = statistics.median(c for c, _ in costs)
    over = [f"{rule} {cost:.2f}" for cost, rule in costs if cost > 0.5]
    return (
        f"Fixed cost per job (wall minus time in main(), {len(costs)} jobs): median {median:.2f} s, "
        f"largest {costs[-1][0]:.2f} s ({costs[-1][1]}); over 0.5 s: {', '.join(over) or 'none'}."
    )


def summary(phases, pipe_jobs) -> dict:
    """The pipeline run's figures as plain values (``summary.json``, e.g. for bench/mosaic_scaling.py)."""
    pipeline = phases[1]
    rules = {}
    for rule in sorted({j.rule for j in pipe_jobs}):
        mine = [j for j in pipe_jobs if j.rule == rule]
        rules[rule] = {
            "jobs": len(mine),
            "mean_wall_s": _mean([j.wall for j in mine]),
            "peak_rss_mib": _max([pipeline.peaks.get(rule), *(j.peak_rss for j in mine)]),
        }
    return {
        "pipeline_wall_s": pipeline.wall,
        "pipeline_ok": pipeline.returncode == 0,
        "other_cpu_s": pipeline.other_cpu,
        "work_peak_mib": pipeline.work_peak_mib,
        "rules": rules,
    }


def report(args, info, phases, sim_jobs, pipe_jobs, warnings) -> str:
    sim, pipe, noop = phases
    size = f"{args.n_exposures} x {args.size}²"
    out = [f"## {size}, --cores {args.cores}", ""]
    out.append(f"Run {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}; workflow at {info['git']}.")
    out.append("")
    out.append("Command:")
    out.append("")
    out.append("```")
    out.append("python " + shlex.join([os.path.relpath(sys.argv[0], REPO), *sys.argv[1:]]))
    out.append("```")
    out.append("")
    env = f"PYTHONPATH={shlex.quote(str(args.workdir / 'src'))} " if args.rev else ""
    out.append(
        "which ran (paths under the repository shown relative to it; the first run only simulates "
        "the demo dataset):"
    )
    out.append("")
    out.append("```")
    for phase in phases:
        out.append((env + shlex.join(phase.cmd)).replace(f"{REPO}/", ""))
    out.append("```")
    out.append("")
    mem = info["mem_total_gib"]
    out += textwrap.wrap(
        f"Machine: {info['host']}, {info['nproc']} CPUs usable (os.cpu_count {info['cpu_count']}, "
        f"{info['cpu']}), MemTotal {_fmt(mem)} GiB (cgroup memory.max {info['cgroup_memory_max']}), "
        f"Linux {info['kernel']}, Python {info['python']}, Snakemake {info['snakemake']}.",
        width=100,
    )
    out.append("")
    out.append(
        "| phase | wall s | Snakemake's 'Elapsed time' s | CPU s (run) | CPU s (other processes) "
        "| all CPUs busy % | result |"
    )
    out.append("|---|---|---|---|---|---|---|")
    for phase in phases:
        if phase.returncode is None:
            result = "not run"
        else:
            result = "ok" if phase.returncode == 0 else f"**FAILED** (exit {phase.returncode})"
        busy = _fmt(None if phase.cpu_busy is None else 100 * phase.cpu_busy, 0)
        cpu = f"{_fmt(phase.own_cpu)} | {_fmt(phase.other_cpu)}"
        elapsed = _fmt(snakemake_elapsed(phase.log))
        out.append(f"| {phase.name} | {_fmt(phase.wall)} | {elapsed} | {cpu} | {busy} | {result} |")
    total = (sim.wall or 0) + (pipe.wall or 0) + (noop.wall or 0)
    out.append(f"| total | {total:.1f} | | | | | |")
    poll = sum(p.poll_cpu or 0 for p in phases)
    out.append("")
    out += textwrap.wrap(
        f"CPU s (run) includes {poll:.1f} CPU s of this script's /proc polling. The difference between "
        "wall s and Snakemake's 'Elapsed time' is Snakemake's start-up (imports, executor plugins, "
        f"parsing the workflow); `snakemake --version` alone took {_fmt(info.get('snakemake_version_s'))} s; "
        f"the no-op run (the same command again, on finished products) {_fmt(noop.wall)} s.",
        width=100,
    )
    out.append("")
    out.append("Pipeline rules (second run; its wall time excludes the simulation):")
    out.append("")
    out += rule_table(pipe_jobs, pipe.peaks, PIPE_ORDER) if pipe_jobs else ["(no benchmark files)"]
    out.append("")
    out += textwrap.wrap(fixed_cost_summary(pipe_jobs), width=100)
    if pipe.work_peak_mib is not None:
        out.append("")
        out.append(
            f"Largest disk use of the products' work/ folders meanwhile: {pipe.work_peak_mib:.0f} MiB."
        )
    out.append("")
    out.append("Simulation rules (first run):")
    out.append("")
    out += rule_table(sim_jobs, sim.peaks, SIM_ORDER) if sim_jobs else ["(no benchmark files)"]
    out.append("")
    for warning in warnings:
        out.append(f"**Warning:** {warning}")
        out.append("")
    return "\n".join(out)


# --- main ----------------------------------------------------------------------------------------


def main(argv=None):
    args = parse_args(argv)
    workdir = args.workdir
    fresh_workdir(workdir)
    override = write_override(workdir, args.n_exposures, args.size, args.set)
    info = machine_info(args.snakemake)
    src, env = REPO, None
    if args.rev:
        src, commit = snapshot(args.rev, workdir)
        info["git"] = f"{commit[:10]} ({args.rev}, extracted to {src.relative_to(workdir)}/)"
        pythonpath = os.pathsep.join(filter(None, [str(src), os.environ.get("PYTHONPATH")]))
        env = dict(os.environ, PYTHONPATH=pythonpath)
        sys.path.insert(0, str(src))  # simulation_targets() imports image3 from the snapshot too
    else:
        info["git"] += " (working tree)"

    detectors = yaml.safe_load(override.read_text())["simulate"].get("detectors")
    base = snakemake_command(
        [args.snakemake],
        src,
        workdir,
        override,
        "--cores",
        str(args.cores),
        *shlex.split(args.snakemake_args),
    )
    phases = (
        Phase(
            "simulation",
            [*base, *simulation_targets(args.n_exposures, detectors)],
            workdir / "snakemake_sim.log",
        ),
        Phase("pipeline", base, workdir / "snakemake_pipeline.log"),
        Phase("no-op", base, workdir / "snakemake_noop.log"),
    )
    for k, phase in enumerate(phases):
        if k == 0 or phases[k - 1].returncode == 0:
            run_phase(phase, workdir, args.poll, args.wait_idle, env)

    rules = list_rules(base, workdir, env)
    sim_jobs = read_benchmarks(workdir / DEMO_DIR / "benchmarks", rules)
    pipe_jobs = read_benchmarks(workdir / OUTDIR / "benchmarks", rules)

    warnings = []
    if phases[1].started is not None:
        rerun = sorted({j.rule for j in sim_jobs if j.mtime >= phases[1].started})
        if rerun:
            warnings.append(f"the pipeline run re-ran simulation rules {rerun}; its wall time includes them")
    for phase in phases:
        if phase.other_cpu is not None and phase.wall and phase.other_cpu > 0.05 * phase.wall * info["nproc"]:
            warnings.append(
                f"other processes used {phase.other_cpu:.1f} CPU s during the {phase.name} run "
                f"({100 * phase.other_cpu / (phase.wall * info['nproc']):.0f}% of the machine): "
                "its times are inflated"
            )
        if phase.returncode:
            warnings.append(f"the {phase.name} run failed, see {phase.log}; the tables show finished jobs")
    for phase in phases:
        jobs = sim_jobs if phase is phases[0] else pipe_jobs
        unmatched = sorted(set(phase.peaks) - {j.rule for j in jobs})
        if unmatched:
            peaks = ", ".join(f"{s} {phase.peaks[s]:.0f} MiB" for s in unmatched)
            warnings.append(f"{phase.name}: job scripts with no matching rule, peak RSS: {peaks}")

    text = report(args, info, phases, sim_jobs, pipe_jobs, warnings)
    print(text)
    (workdir / "report.md").write_text(text + "\n")
    (workdir / "summary.json").write_text(json.dumps(summary(phases, pipe_jobs), indent=1) + "\n")
    if args.markdown_out:
        with open(args.markdown_out, "a") as f:
            f.write(text + "\n\n")
    if not args.keep:
        clean_products(workdir)
    return 0 if all(p.returncode == 0 for p in phases) else 1


if __name__ == "__main__":
    sys.exit(main())
