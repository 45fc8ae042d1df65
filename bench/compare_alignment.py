#!/usr/bin/env python
"""Relative alignment of the official tweakreg step and of this workflow's on the NIRCam long
wavelength demo, against the simulator's truth (issue #15).

One invocation:

1. makes (once; reused later) the official pipeline's virtual environment, as
   bench/compare_official.py does (``--venv``, default bench/runs/official-venv);
2. simulates config/demo_nircam_lw.yaml (3 dithers x NRCALONG + NRCBLONG, F444W, SIAF geometry),
   each detector cut down to ``--size``² (default the config's 1024) or ``--full-frame`` (2048²);
3. runs ``strun tweakreg <asn.json>`` in that environment, offline (no CRDS server, no
   step-parameter references; tweakreg has no reference files; ``abs_refcat`` stays off), official
   defaults otherwise;
4. runs this workflow on the same association and _cal files up to the product's tweakreg output
   (``results/<product>/work/<product>_wcs.zip``);
5. measures the WCS of each side (and the _cal files' unaligned WCS) against the truth
   (demo/truth/exposures.json): the RMS, in mas, of every file's sky offsets over a 64-pixel grid
   about the common rigid motion of the whole field (``relative_alignment_rms`` of tests/simdata.py);
6. prints a Markdown table, one row per realisation (``--seeds``, each a new scene and new pointing
   errors) and their mean: RMS (mas), files aligned, alignment groups, wall times (s).

The two sides run one after the other, never concurrently; ``jwst`` is never imported here.

Usage: python bench/compare_alignment.py [--size 1024 | --full-frame] [--seeds 42 1 2] [--cores 2] [--keep]
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import os
import re
import shlex
import sys
from pathlib import Path

import yaml

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
import compare_official  # noqa: E402  (bench/ is not a package)
import run_bench  # noqa: E402

REPO = BENCH.parent
DEMO_CONFIG = REPO / "config" / "demo_nircam_lw.yaml"
GROUPS_RE = re.compile(r"Number of image groups to be aligned: (\d+)")
DETECTED_RE = re.compile(r"Detected (\d+) sources in (\S+)\.")
WARNING_RE = re.compile(r" - WARNING - (.+)$")
OFFLINE_WARNING = "CRDS_SERVER_URL does not start with https://"  # the offline set-up's, expected


def parse_args(argv=None):
    base = yaml.safe_load((REPO / "config.yaml").read_text())["simulate"]
    demo = {**base, **yaml.safe_load(DEMO_CONFIG.read_text())["simulate"]}
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--size",
        type=int,
        default=demo["shape"][0],
        help=f"detector cut-down: simulate.shape = [size, size] (default {demo['shape'][0]}, the config's)",
    )
    p.add_argument("--full-frame", action="store_true", help="full 2048² detectors (simulate.shape null)")
    p.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        default=[demo["seed"]],
        help=f"simulate.seed of each realisation (scene and pointing errors; default the config's, "
        f"{demo['seed']}): one row per seed and the mean",
    )
    p.add_argument("--cores", type=int, default=2, help="snakemake --cores (default 2)")
    p.add_argument("--workdir", type=Path, help="work directory (default bench/runs/alignment-lw-<size>)")
    p.add_argument(
        "--venv", type=Path, default=BENCH / "runs" / "official-venv", help="official pipeline's venv"
    )
    p.add_argument(
        "--jwst-version",
        default=compare_official.JWST_VERSION,
        help=f"jwst version to install (default {compare_official.JWST_VERSION})",
    )
    p.add_argument("--snakemake", default="snakemake", help="snakemake executable (default: from PATH)")
    p.add_argument("--keep", action="store_true", help="keep the FITS/ASDF files (default: delete them)")
    args = p.parse_args(argv)
    args.n_exposures = demo["n_exposures"]
    label = "full" if args.full_frame else str(args.size)
    args.workdir = (args.workdir or BENCH / "runs" / f"alignment-lw-{label}").resolve()
    args.venv = args.venv.absolute()
    return args


def load_simdata():
    """tests/simdata.py as a module (the truth-based metrics the tests use)."""
    spec = importlib.util.spec_from_file_location("simdata", REPO / "tests" / "simdata.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- the two runs --------------------------------------------------------------------------------


def official_side(workdir: Path, args, asn: Path) -> compare_official.Side:
    """``strun tweakreg`` on the association, offline, official defaults, outputs in <workdir>/official."""
    folder = workdir / "official"
    folder.mkdir()
    cmd = [str(args.venv / "bin" / "strun"), "tweakreg", str(asn), f"--output_dir={folder}"]
    env = compare_official.offline_env(workdir / "crds_cache")
    return compare_official.Side("official", cmd, folder, env, folder / "tweakreg.log")


def ours_side(workdir: Path, args, asn: Path, product: str, env: dict[str, str]) -> compare_official.Side:
    """Our workflow on the association up to the product's aligned WCS file, in <workdir>/ours."""
    folder = workdir / "ours"
    folder.mkdir()
    cmd = [
        args.snakemake,
        "--snakefile",
        str(REPO / "Snakefile"),
        "--directory",
        str(folder),
        "--cores",
        str(args.cores),
        "--config",
        f"asn={asn}",
        "outdir=results",
        "--",
        our_wcs_file(product),
    ]
    return compare_official.Side("ours", cmd, folder, env, folder / "snakemake.log")


def our_wcs_file(product: str) -> str:
    """The tweakreg rule's WCS file, relative to our run's directory (rules/tweakreg.smk)."""
    return f"results/{product}/work/{product}_wcs.zip"


# --- the aligned WCS of each side ----------------------------------------------------------------


def input_wcs(cal_files: dict[str, Path]) -> dict:
    """{file name: gwcs} of the _cal files (the pointing errors uncorrected)."""
    from image3.io.fits_read import read_gwcs

    return {name: read_gwcs(path) for name, path in cal_files.items()}


def official_wcs(folder: Path, names) -> tuple[dict, dict]:
    """{file name: gwcs} of the official outputs (<name>_tweakregstep.fits, read with stdatamodels)
    and {file name: meta.cal_step.tweakreg}."""
    from stdatamodels.jwst import datamodels

    wcs, status = {}, {}
    for name in names:
        path = folder / f"{name}_tweakregstep.fits"
        if not path.exists():
            continue
        with datamodels.open(path) as model:
            wcs[name] = model.meta.wcs
            status[name] = model.meta.cal_step.tweakreg
    return wcs, status


def ours_report(folder: Path, product: str):
    """Our tweakreg rule's per-exposure report (``<product>_tweakreg.ecsv``), or None."""
    from astropy.table import Table

    path = folder / "results" / product / f"{product}_tweakreg.ecsv"
    return Table.read(path, format="ascii.ecsv") if path.exists() else None


def ours_wcs(folder: Path, product: str) -> dict:
    """{file name: gwcs} of our tweakreg rule's WCS file ({} if it is missing)."""
    from image3.wcs.store import load_wcs_set

    path = folder / our_wcs_file(product)
    return load_wcs_set(path) if path.exists() else {}


# --- measurement ---------------------------------------------------------------------------------


def common_shape(cal_files: dict[str, Path]) -> tuple[int, int]:
    """The (ny, nx) pixels all _cal files share (the metric takes one shape)."""
    from image3.io.fits_read import read_lean

    shapes = {tuple(read_lean(path, extensions=()).shape) for path in cal_files.values()}
    if len(shapes) != 1:
        sys.exit(f"error: the files differ in shape {sorted(shapes)}; the metric needs one")
    return shapes.pop()


def relative_rms(simdata, wcs: dict, truth: dict, shape) -> float | None:
    """Relative alignment RMS (mas) of all files' WCS about their common rigid motion; None unless
    every file has one."""
    if set(wcs) != set(truth):
        return None
    names = list(truth)
    return simdata.relative_alignment_rms([wcs[n] for n in names], [truth[n] for n in names], shape)


def official_log_facts(log_path: Path) -> dict:
    """From the stpipe log: the number of alignment groups, sources detected per file, warnings (but
    the one the offline CRDS URL causes)."""
    text = run_bench._read(log_path)
    groups = GROUPS_RE.search(text)
    return {
        "groups": int(groups.group(1)) if groups else None,
        "sources": {Path(f).name.removesuffix("_cal.fits"): int(n) for n, f in DETECTED_RE.findall(text)},
        "warnings": [
            m.group(1).strip()
            for m in map(WARNING_RE.search, text.splitlines())
            if m and OFFLINE_WARNING not in m.group(1)
        ],
    }


def official_step_seconds(side: compare_official.Side) -> float | None:
    """Wall s of the step alone, from its log's 'running' and 'done' lines."""
    steps = compare_official.official_steps(side).steps
    return next(iter(steps.values()), None)


# --- one realisation ----------------------------------------------------------------------------


def measure(args, seed: int, env: dict[str, str], simdata) -> dict:
    """Simulate one realisation in <workdir>/seed<seed>, run both sides on it, measure them.

    Returns the RMS (mas) of the unaligned _cal files and of each side, and each side's Side (wall s),
    files aligned, alignment groups and sources per file.
    """
    from image3.simulate.dataset import read_exposure_truth

    workdir = args.workdir / f"seed{seed}"
    compare_official.prepare_workdir(workdir, REPO)
    shape = None if args.full_frame else [args.size, args.size]
    settings = {"n_exposures": args.n_exposures, "shape": shape, "seed": seed}
    sim_args = argparse.Namespace(**{**vars(args), "workdir": workdir})
    dataset = compare_official.simulate(sim_args, REPO, env, configfiles=[DEMO_CONFIG], settings=settings)
    demo = dataset.asn.parent
    truth = read_exposure_truth(demo / "truth" / "exposures.json")
    cal_files = {name: demo / f"{name}_cal.fits" for name in truth}
    shape = common_shape(cal_files)

    nproc = len(os.sched_getaffinity(0))
    official = official_side(workdir, args, dataset.asn)
    ours = ours_side(workdir, args, dataset.asn, dataset.product, env)
    for side in (official, ours):  # one after the other
        compare_official.run_timed(side, 0.5, 0, nproc)
    facts = official_log_facts(official.log)
    off_wcs, off_status = official_wcs(official.cwd, truth)
    table = ours_report(ours.cwd, dataset.product)
    out = {
        "seed": seed,
        "shape": shape,
        "files": len(truth),
        "exposures": len({group_of(e) for e in truth.values()}),
        "unaligned": relative_rms(simdata, input_wcs(cal_files), truth, shape),
        "official": {
            "side": official,
            "rms": relative_rms(simdata, off_wcs, truth, shape),
            "aligned": sum(s == "COMPLETE" for s in off_status.values()),
            "groups": facts["groups"],
            "sources": list(facts["sources"].values()),
            "step": official_step_seconds(official),
            "warnings": facts["warnings"],
        },
        "ours": {
            "side": ours,
            "rms": relative_rms(simdata, ours_wcs(ours.cwd, dataset.product), truth, shape),
            "aligned": None if table is None else int(table["aligned"].sum()),
            "groups": None if table is None else len(set(table["group"])),
            "sources": [] if table is None else [int(n) for n in table["n_sources"]],
            "step": run_bench.snakemake_elapsed(ours.log),
            "warnings": [],
        },
    }
    if not args.keep:
        run_bench.clean_products(workdir)
    return out


def group_of(entry: dict) -> str:
    """The exposure a truth entry's file belongs to (its name without the detector)."""
    return entry["name"].rsplit("_", 1)[0]


# --- report --------------------------------------------------------------------------------------


def report(args, info, results) -> str:
    """The Markdown section: versions, command, one row per realisation (and the mean), notes."""
    fmt = run_bench._fmt
    first = results[0]
    shape = f"{first['shape'][1]} x {first['shape'][0]}" + (" (full frame)" if args.full_frame else "")
    venv = info["venv"]
    out = [
        f"## Relative alignment against the official tweakreg: NIRCam LW, {first['exposures']} dithers x "
        f"NRCALONG + NRCBLONG of {shape}",
        "",
        f"Run {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}; workflow at {info['git']}; official: "
        f"jwst {venv.get('jwst', '?')} (stpipe {venv.get('stpipe', '?')}, stcal {venv.get('stcal', '?')}, "
        f"tweakwcs {venv.get('tweakwcs', '?')}, photutils {venv.get('photutils', '?')}, "
        f"gwcs {venv.get('gwcs', '?')}).",
        "",
        "```",
        "python " + shlex.join([os.path.relpath(sys.argv[0], REPO), *sys.argv[1:]]),
        "```",
        "",
        "| seed | unaligned RMS mas | official RMS mas | ours RMS mas | files aligned (official, ours) "
        "| groups (official, ours) | official wall s (step) | ours wall s (Snakemake) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        o, u = r["official"], r["ours"]
        out.append(
            f"| {r['seed']} | {fmt(r['unaligned'], 1)} | {fmt(o['rms'], 3)} | {fmt(u['rms'], 3)} "
            f"| {o['aligned']}/{r['files']}, {u['aligned']}/{r['files']} | {o['groups']}, {u['groups']} "
            f"| {fmt(o['side'].wall)} ({fmt(o['step'])}) | {fmt(u['side'].wall)} ({fmt(u['step'])}) |"
        )
    if len(results) > 1:
        unaligned = _mean([r["unaligned"] for r in results])
        official, ours = (_mean([r[side]["rms"] for r in results]) for side in ("official", "ours"))
        means = f"{fmt(unaligned, 1)} | **{fmt(official, 3)}** | **{fmt(ours, 3)}**"
        out.append(f"| **mean** | {means} | | | | |")
    out.append("")
    out.append(
        f"{first['files']} _cal files per realisation, {first['exposures']} exposures. RMS: each file's sky "
        "offsets from the truth over a 64-pixel grid, about the common rigid motion (tests/simdata.py). "
        "Wall s: the command; in brackets the official log's 'running' to 'done' of the step, and "
        "Snakemake's 'Elapsed time' (source catalogs and fit)."
    )
    out.append("")
    for r in results:
        for name in ("official", "ours"):
            side = r[name]["side"]
            counts = sorted(set(r[name]["sources"]))
            out.append(f"- seed {r['seed']}, {name}: sources per file {counts}" + _contention(side))
            out += [f"  - warning: {w}" for w in r[name]["warnings"]]
            if side.returncode:
                out.append(f"  - **the {name} run failed** (exit {side.returncode}), see {side.log}")
    return "\n".join(out)


def _mean(values):
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None


def _contention(side) -> str:
    """'; other processes used N CPU s meanwhile' when they did."""
    if side.other_cpu is None or side.wall is None:
        return "."
    return f"; other processes' CPU meanwhile {side.other_cpu:.0f} s over {side.wall:.0f} s."


def main(argv=None):
    args = parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    info = {"git": compare_official.git_describe(REPO)}
    info["venv"] = compare_official.ensure_venv(args.venv, args.jwst_version)
    paths = [str(REPO), os.environ.get("PYTHONPATH")]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, paths)))
    sys.path.insert(0, str(REPO))
    simdata = load_simdata()
    results = [measure(args, seed, env, simdata) for seed in args.seeds]
    text = report(args, info, results)
    print(text)
    (args.workdir / "report.md").write_text(text + "\n")
    failed = [r for r in results for side in ("official", "ours") if r[side]["side"].returncode]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
