"""Snakemake's planning time for a large association: ``snakemake -n`` (the DAG alone) on N members.

Makes N small level-2b files (the headers and ASDF tree of one simulated exposure, 8 x 8 arrays:
the workflow reads only headers and the tree's text while it loads), an image3 association of them,
and times a dry run of the workflow on it, with and without tiles. The tile jobs themselves are not
planned: they follow the tile index, a checkpoint, which needs the exposures' geometry (a dry run
plans up to it).

    python bench/dag_planning.py --counts 1000 10000 --template demo/jw..._cal.fits

The template is any level-2b file (e.g. one of the demo's); the files go to ``--workdir``.
"""

import argparse
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import yaml
from astropy.io import fits

from image3.io.association import write_association

REPO = Path(__file__).resolve().parents[1]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--counts", type=int, nargs="+", default=[1000, 10000])
    p.add_argument("--template", type=Path, required=True, help="a level-2b _cal.fits to copy headers from")
    p.add_argument("--workdir", type=Path, default=REPO / "bench" / "runs" / "dag-planning")
    p.add_argument("--tile-size", type=int, default=5000)
    p.add_argument("--snakemake", default="snakemake")
    return p.parse_args(argv)


def small_copy(template: Path, path: Path):
    """``path``: the template's headers, its image extensions cut to 8 x 8 and its ASDF extension
    (what the member scan at load checks; the tree's arrays are not read)."""
    with fits.open(template) as hdul:
        hdus = [fits.PrimaryHDU(header=hdul[0].header)]
        for hdu in hdul[1:]:
            if hdu.is_image:
                small = np.zeros((8, 8), hdu.data.dtype)
                hdus.append(fits.ImageHDU(small, header=hdu.header, name=hdu.name))
            else:
                hdus.append(hdu.copy())
        fits.HDUList(hdus).writeto(path, overwrite=True)


def make_association(workdir: Path, template: Path, n: int) -> Path:
    """An association of ``n`` members (files made once, reused by larger counts)."""
    data = workdir / "data"
    data.mkdir(parents=True, exist_ok=True)
    names = [f"jw09999{k // 1000 + 1:03d}001_03101_{k % 1000 + 1:05d}_nrca1" for k in range(n)]
    for name in names:
        path = data / f"{name}_cal.fits"
        if not path.exists():
            small_copy(template, path)
    asn = data / f"n{n}_asn.json"
    write_association(asn, "o001", f"jw09999-o001_t001_n{n}", [f"{e}_cal.fits" for e in names])
    return asn


def dry_run(args, asn: Path, tile_size: int) -> float:
    config = args.workdir / f"{asn.stem}_tiles{tile_size}.yaml"
    tiles = {"size": tile_size, "margin": 100, "max_tiles": 100000}
    config.write_text(yaml.safe_dump({"asn": str(asn), "tiles": tiles}))
    cmd = [
        args.snakemake,
        "--snakefile",
        str(REPO / "Snakefile"),
        "--directory",
        str(args.workdir),
        "--configfile",
        str(config),
        "-n",
        "--quiet",
        "all",
    ]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if done.returncode:
        sys.exit(f"{shlex.join(cmd)} failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    return wall


def main(argv=None):
    args = parse_args(argv)
    args.workdir = args.workdir.resolve()  # snakemake runs in it: the association's path must not be relative
    print("| members | snakemake -n s, no tiles | with tiles (up to the tile index) |")
    print("|---|---|---|", flush=True)
    for n in args.counts:
        asn = make_association(args.workdir, args.template, n)
        print(f"| {n} | {dry_run(args, asn, 0):.1f} | {dry_run(args, asn, args.tile_size):.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
