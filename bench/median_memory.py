"""Peak memory of the outlier median job as the number of single images grows.

Writes N single images (SCI, WHT) of size x size pixels with random data, then runs
image3.outlier_detection.files.median_image in a child process per case and reports its wall time and peak RSS
(ru_maxrss) against the configured ``median_memory_mb``.

    python bench/median_memory.py --size 2900 --counts 6 16 --limits 400 1000
"""

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from image3.outlier_detection.files import SingleImage, median_image, write_single


def write_singles(folder, count, size):
    rng = np.random.default_rng(1)
    paths = []
    for k in range(count):
        sci = rng.normal(0.0, 1.0, (size, size)).astype(np.float32)
        wht = np.ones_like(sci)
        wht[:, : 100 * k] = 0.0  # different footprints, so the weight mask matters
        paths.append(Path(folder) / f"single{k}.fits")
        write_single(paths[-1], SingleImage(sci, wht))
    return paths


def child(paths, limit):
    start = time.perf_counter()
    median_image(paths, 0.7, limit)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{time.perf_counter() - start:.1f} {peak_mib:.0f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--size", type=int, default=2900, help="single-image side (a 6 x 2048^2 grid is ~2900)"
    )
    parser.add_argument("--counts", type=int, nargs="+", default=[6, 16])
    parser.add_argument("--limits", type=float, nargs="+", default=[400.0, 1000.0])
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[1:], float(args.child[0]))
        return
    with tempfile.TemporaryDirectory() as folder:
        paths = [str(p) for p in write_singles(folder, max(args.counts), args.size)]
        print("| images | median_memory_mb | wall s | peak RSS MiB |\n|---|---|---|---|")
        for count in args.counts:
            for limit in args.limits:
                out = subprocess.run(
                    [sys.executable, __file__, "--child", str(limit), *paths[:count]],
                    capture_output=True, text=True, check=True,
                ).stdout.split()  # fmt: skip
                print(f"| {count} | {limit:.0f} | {out[0]} | {out[1]} |")


if __name__ == "__main__":
    main()
