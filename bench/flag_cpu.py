"""CPU time of the outlier flag step (``flag_outliers``) per simulated 2048^2 exposure.

    PYTHONPATH=<worktree> python bench/flag_cpu.py prepare   # simulate once into /tmp/flag_cpu_data
    PYTHONPATH=<worktree> python bench/flag_cpu.py time [--repeat 3]

``prepare`` simulates ``N_EXPOSURES`` exposures of 2048^2 in F090W (the undersampled case) with the
project's simulator, its default config (the demo's cosmic-ray mix and rate) and a dither spread of
0.25 arcsec, so that part of each exposure has single coverage; it stores what the workflow's
outlier_flag job reads for each exposure (SCI, ERR, DQ, the blotted median and its coverage, the
sky level), made as the jobs make them (singles, median, blot of each exposure's window). ``time``
runs ``flag_outliers`` with the default ``FlagSettings`` on each and prints its CPU time
(``time.process_time``, the best of ``--repeat`` runs) and the fraction of the exposure with single
coverage.
"""

import argparse
import dataclasses
import pickle
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

DATA = Path("/tmp/flag_cpu_data")
REPO = Path(__file__).resolve().parents[1]
SIZE = 2048
N_EXPOSURES = 3


def prepare():
    """Simulate and store the flag step's inputs (skipped when already done)."""
    if (DATA / "done").exists():
        return
    sys.path.insert(0, str(REPO / "tests"))
    import simdata

    from image3.outlier_detection import files as outlier_files
    from image3.outlier_detection import outliers
    from image3.resample.drizzle import Exposure
    from image3.resample.grid import make_grid
    from image3.resample.settings import DrizzleSettings
    from image3.wcs.pixmap import pixel_map

    DATA.mkdir(parents=True, exist_ok=True)
    sim = simdata.settings(filter="F090W", shape=[SIZE, SIZE], n_exposures=N_EXPOSURES, dither_spread=0.25)
    scene, truth, models, crs = simdata.simulate(sim)
    for model, entry in zip(models, truth, strict=True):
        model.meta.wcs = simdata.true_wcs(entry, model.data.shape)
    grid = make_grid([(m.meta.wcs, m.data.shape) for m in models])
    settings = DrizzleSettings(fillval="NaN", good_bits="~DO_NOT_USE")
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for k, m in enumerate(models):
            exposure = dataclasses.replace(Exposure.from_model(m), sky=0.0)
            paths.append(Path(tmp) / f"single{k}.fits")
            outlier_files.write_single(paths[-1], outliers.single_image(exposure, grid, settings, 0.0311))
        median = outlier_files.median_image(paths, sky_levels=[e["sky_level"] for e in truth])
        outlier_files.write_median(Path(tmp) / "median.fits", *median)
        for k, (m, entry) in enumerate(zip(models, truth, strict=True)):
            pixmap = pixel_map(m.meta.wcs, grid.wcs, m.data.shape)
            rows, columns = outliers.blot_window(pixmap, grid.shape)
            window = outlier_files.read_median(Path(tmp) / "median.fits", (rows, columns))
            blotted, coverage = outliers.blot(*window, pixmap - [columns.start, rows.start])
            arrays = {
                "data": np.asarray(m.data),
                "err": np.asarray(m.err),
                "usable": (np.asarray(m.dq) & 1) == 0,
                "blotted": blotted,
                "coverage": coverage,
                "sky": entry["sky_level"],
            }
            with open(DATA / f"exp{k}.pkl", "wb") as f:
                pickle.dump(arrays, f)
    (DATA / "done").touch()


def time_flags(repeat):
    """Print the best-of-``repeat`` CPU time of ``flag_outliers`` on each stored exposure."""
    from image3.outlier_detection.outliers import flag_outliers
    from image3.outlier_detection.settings import FlagSettings

    settings = FlagSettings()
    times = []
    for path in sorted(DATA.glob("exp*.pkl")):
        with open(path, "rb") as f:
            a = pickle.load(f)
        best = np.inf
        for _ in range(repeat):
            t0 = time.process_time()
            flag_outliers(a["data"], a["err"], a["blotted"], a["coverage"], a["sky"], settings, a["usable"])
            best = min(best, time.process_time() - t0)
        times.append(best)
        single = np.mean(a["coverage"] == 1)
        print(f"{path.stem}: {best:.3f} CPU s, single coverage {100 * single:.1f} % of the exposure")
    print(f"median {np.median(times):.3f} CPU s, max {max(times):.3f} CPU s per {SIZE}^2 exposure")


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("mode", choices=("prepare", "time"))
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if args.mode == "prepare":
        prepare()
    else:
        time_flags(args.repeat)


if __name__ == "__main__":
    main()
