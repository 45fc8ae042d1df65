"""How the workflow scales with the number of exposures of a wide mosaic, with and without tiles.

For each number of exposures N (a grid of pointings of ``--size``² detectors, one exposure each,
neighbours overlapping by ``--overlap``), simulates the mosaic and runs the workflow through
``run_bench.py`` (its own work directory per case), once with one mosaic per product
(``tiles.size: 0``) and once in tiles, then tabulates: the pipeline's wall time and wall time per
exposure, the mean wall time of the per-exposure jobs, each rule's largest peak RSS, and the largest
disk use of the work folders.

    python bench/mosaic_scaling.py --counts 6 24 96 --size 512 --tile-size 1024 --rev HEAD

The Markdown report goes to stdout and ``<workdir>/report.md``. Each case's run_bench report stays in
``<workdir>/<N>-<tiles>/report.md``.
"""

import argparse
import json
import math
import sys
from pathlib import Path

import run_bench

PER_EXPOSURE_RULES = ("tweakreg_catalog", "outlier_single", "outlier_flag", "crf")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--counts", type=int, nargs="+", default=[6, 24, 96], help="numbers of exposures")
    p.add_argument("--size", type=int, default=512, help="detector pixels per side (default 512)")
    p.add_argument("--overlap", type=float, default=0.15, help="simulate.mosaic_overlap (default 0.15)")
    p.add_argument("--tile-size", type=int, default=1024, help="tiles.size of the tiled runs (default 1024)")
    p.add_argument("--tile-margin", type=int, default=64, help="tiles.margin (default 64)")
    p.add_argument("--cores", type=int, default=2)
    p.add_argument("--rev", default=None, help="git revision to measure (see run_bench.py --rev)")
    p.add_argument("--workdir", type=Path, default=run_bench.REPO / "bench" / "runs" / "mosaic-scaling")
    return p.parse_args(argv)


def grid_of(n: int) -> tuple[int, int]:
    """(columns, rows) of the most nearly square grid of ``n`` pointings (columns >= rows)."""
    rows = max(r for r in range(1, int(math.isqrt(n)) + 1) if n % r == 0)
    return n // rows, rows


def run_case(args, n: int, tile_size: int) -> dict:
    columns, rows = grid_of(n)
    workdir = args.workdir / f"{n}-tiles{tile_size}"
    argv = [
        "--n-exposures",
        str(n),
        "--size",
        str(args.size),
        "--cores",
        str(args.cores),
        "--workdir",
        str(workdir),
        "--set",
        f"simulate.mosaic=[{columns}, {rows}]",
        "--set",
        f"simulate.mosaic_overlap={args.overlap}",
        "--set",
        "simulate.dither_spread=0.0",
        "--set",
        f"tiles.size={tile_size}",
        "--set",
        f"tiles.margin={args.tile_margin}",
    ]
    if args.rev:
        argv += ["--rev", args.rev]
    run_bench.main(argv)
    result = json.loads((workdir / "summary.json").read_text())
    result.update(n=n, tile_size=tile_size, grid=f"{columns} x {rows}")
    return result


def per_exposure_mean(result: dict) -> float | None:
    """Mean wall time of the per-exposure jobs (s), over all their rules."""
    rules = [result["rules"][r] for r in PER_EXPOSURE_RULES if r in result["rules"]]
    jobs = sum(r["jobs"] for r in rules)
    return sum(r["jobs"] * r["mean_wall_s"] for r in rules) / jobs if jobs else None


def report(args, results: list[dict]) -> str:
    lines = [
        f"## Wide mosaics: {', '.join(map(str, args.counts))} exposures of {args.size}², "
        f"{args.overlap:.0%} overlap, --cores {args.cores}",
        "",
        "```",
        "python bench/mosaic_scaling.py " + " ".join(sys.argv[1:]),
        "```",
        "",
        "| exposures (grid) | tiles.size | wall s | wall s / exposure | mean per-exposure job s "
        "| largest peak RSS MiB (rule) | work/ peak MiB | other CPU s | result |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        peaks = {rule: v["peak_rss_mib"] for rule, v in r["rules"].items() if v["peak_rss_mib"]}
        top = max(peaks, key=peaks.get) if peaks else None
        mean = per_exposure_mean(r)
        lines.append(
            f"| {r['n']} ({r['grid']}) | {r['tile_size']} | {r['pipeline_wall_s']:.1f} "
            f"| {r['pipeline_wall_s'] / r['n']:.2f} | {'-' if mean is None else f'{mean:.2f}'} "
            f"| {f'{peaks[top]:.0f} ({top})' if top else '-'} | {r['work_peak_mib']:.0f} "
            f"| {r['other_cpu_s']:.1f} | {'ok' if r['pipeline_ok'] else 'FAILED'} |"
        )
    lines += ["", "Largest peak RSS (MiB) of each rule's jobs:", ""]
    rules = sorted({rule for r in results for rule in r["rules"]})
    lines.append("| rule | " + " | ".join(f"{r['n']}, tiles {r['tile_size']}" for r in results) + " |")
    lines.append("|---|" + "---|" * len(results))
    for rule in rules:
        cells = [r["rules"].get(rule, {}).get("peak_rss_mib") for r in results]
        lines.append(f"| {rule} | " + " | ".join("-" if c is None else f"{c:.0f}" for c in cells) + " |")
    return "\n".join(lines)


def main(argv=None):
    args = parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    results = [run_case(args, n, tiles) for n in args.counts for tiles in (0, args.tile_size)]
    text = report(args, results)
    print(text)
    (args.workdir / "report.md").write_text(text + "\n")
    return 0 if all(r["pipeline_ok"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
