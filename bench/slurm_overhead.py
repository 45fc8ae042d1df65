"""What a cluster job costs beyond its work: a run through the local SLURM, job by job.

Simulates ``--n-exposures`` exposures of ``--size``² detectors locally (one product, dithered), then
runs the pipeline through SLURM with ``profiles/slurm`` (``snakemake --profile profiles/slurm``,
simulation excluded) and tabulates, from ``sacct`` and the jobs' own logs:

* SLURM jobs and the rule jobs they ran (a group job runs several, one after another);
* the run's wall time, the summed elapsed time of its SLURM jobs, and the summed time the rule jobs
  spent inside their scripts' ``main()`` (the ``done in X s`` line each job logs): the rest of a
  SLURM job's elapsed time is its overhead (Snakemake's start-ups inside the job, the workflow's
  load, each script's Python and imports);
* the mean wait from submission to start (the scheduler, not the job).

Needs a SLURM where ``sbatch`` and ``sacct`` answer (``../shared/slurm`` starts one here).

    python bench/slurm_overhead.py --n-exposures 200 --size 128 [--rev REV] [--workdir DIR]

The Markdown report goes to stdout and ``<workdir>/report.md``.
"""

import argparse
import datetime
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import run_bench


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n-exposures", type=int, default=200)
    p.add_argument("--size", type=int, default=128, help="detector pixels per side (default 128)")
    p.add_argument("--rev", default=None, help="git revision to measure (default: this working tree)")
    p.add_argument("--set", action="append", default=[], help="extra config KEY=VALUE (YAML value)")
    p.add_argument(
        "--demo-from",
        type=Path,
        default=None,
        help="copy the simulated files from this "
        "earlier run's work directory instead of simulating them again",
    )
    p.add_argument("--workdir", type=Path, default=run_bench.REPO / "bench" / "runs" / "slurm-overhead")
    return p.parse_args(argv)


def snakemake(src: Path, workdir: Path, override: Path, *extra) -> list[str]:
    return run_bench.snakemake_command([sys.executable, "-m", "snakemake"], src, workdir, override, *extra)


def sacct_jobs(run_id: str, since: str) -> list[dict]:
    """The SLURM jobs of the Snakemake run ``run_id`` (its sbatch --job-name) submitted since
    ``since`` (sacct's format), allocations only."""
    fields = "JobID,JobName,Comment,Submit,Start,End,ElapsedRaw,State"
    out = subprocess.run(
        ["sacct", "-X", "-n", "-P", f"--name={run_id}", "--starttime", since, f"--format={fields}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    names = fields.split(",")
    return [
        dict(zip(names, line.split("|", len(names) - 1), strict=True))
        for line in out.splitlines()
        if line.strip()
    ]


def _seconds(stamp: str) -> float:
    return datetime.datetime.fromisoformat(stamp).timestamp()


def in_main_total(workdir: Path, since: float) -> tuple[int, float]:
    """Rule jobs that logged ``done in X s`` after ``since`` (epoch s: the pipeline's, not the
    simulation's), and their summed seconds."""
    times = []
    for log in (workdir / run_bench.OUTDIR / "logs").rglob("*.log"):
        if log.stat().st_mtime < since:
            continue
        found = run_bench.DONE_RE.findall(log.read_text(errors="replace"))
        if found:
            times.append(float(found[-1]))
    return len(times), sum(times)


def report(args, commit, wall, jobs, n_rule_jobs, in_main) -> str:
    elapsed = [float(j["ElapsedRaw"]) for j in jobs]
    waits = [_seconds(j["Start"]) - _seconds(j["Submit"]) for j in jobs if j["Start"] != "Unknown"]
    states = sorted({j["State"] for j in jobs})
    overhead = sum(elapsed) - in_main
    lines = [
        f"## SLURM per-job overhead: {args.n_exposures} exposures of {args.size}², commit {commit[:7]}",
        "",
        "```",
        " ".join(["python bench/slurm_overhead.py", *sys.argv[1:]]),
        "```",
        "",
        "| SLURM jobs | rule jobs in them | run wall s | summed SLURM elapsed s | summed in main() s "
        "| overhead s per SLURM job | overhead s per rule job | mean wait submit->start s | states |",
        "|---|---|---|---|---|---|---|---|---|",
        f"| {len(jobs)} | {n_rule_jobs} | {wall:.0f} | {sum(elapsed):.0f} | {in_main:.0f} "
        f"| {overhead / max(len(jobs), 1):.1f} | {overhead / max(n_rule_jobs, 1):.2f} "
        f"| {statistics.fmean(waits) if waits else float('nan'):.1f} | {', '.join(states)} |",
        "",
    ]
    return "\n".join(lines)


def main(argv=None):
    args = parse_args(argv)
    run_bench.fresh_workdir(args.workdir)
    if args.rev:
        src, commit = run_bench.snapshot(args.rev, args.workdir)
    else:
        src = run_bench.REPO
        commit = subprocess.run(
            ["git", "-C", str(src), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    override = run_bench.write_override(args.workdir, args.n_exposures, args.size, args.set)
    env = {**os.environ, "PYTHONPATH": str(src)}
    if args.demo_from:
        shutil.copytree(args.demo_from / run_bench.DEMO_DIR, args.workdir / run_bench.DEMO_DIR)
    else:
        simulation = run_bench.simulation_targets(args.n_exposures)
        subprocess.run(
            snakemake(src, args.workdir, override, "--cores", "2", *simulation, "--quiet", "all"),
            env=env,
            check=True,
        )
    now = datetime.datetime.now()
    since = now.strftime("%Y-%m-%dT%H:%M:%S")
    time.sleep(1)
    start = time.perf_counter()
    run = subprocess.run(
        snakemake(src, args.workdir, override, "--profile", str(src / "profiles" / "slurm")),
        env=env,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - start
    (args.workdir / "slurm_run.log").write_text(run.stdout + run.stderr)
    if run.returncode:
        sys.exit(f"the SLURM run failed (its log: {args.workdir / 'slurm_run.log'})")
    run_id = re.search(r"SLURM run ID: (\S+)", run.stdout + run.stderr)
    jobs = sacct_jobs(run_id[1], since)
    n_rule_jobs, in_main = in_main_total(args.workdir, now.timestamp())
    text = report(args, commit, wall, jobs, n_rule_jobs, in_main)
    (args.workdir / "report.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
