"""Timing and profiling harness for the science hot spots (see bench/hotspots.md).

    PYTHONPATH=<worktree> python bench/hotspots_profile.py prepare   # simulate once into /tmp/hot_data
    PYTHONPATH=<worktree> python bench/hotspots_profile.py time [--repeat 3] [--only NAME ...]
    PYTHONPATH=<worktree> python bench/hotspots_profile.py profile NAME   # cProfile, top 25 by cumtime
    PYTHONPATH=<worktree> python bench/hotspots_profile.py save DIR       # outputs, for comparison
    python bench/hotspots_profile.py compare DIR_BEFORE DIR_AFTER

``prepare`` simulates 6 exposures of 1024^2 per filter (F150W, F090W, F200W) with the project's
simulator and its default config, and stores for each filter the ``_cal`` files (true WCS), the
blotted median and coverage every exposure's outlier flags need, and the drizzled ``_i2d`` mosaic.
The timed functions are those the workflow's jobs call: ``find_sources`` (tweakreg_catalog, per
exposure), ``flag_outliers`` (outlier_flag, per exposure), ``measure_files`` (skymatch, the 6
exposures) and ``single_band_catalog`` (source_catalog, the mosaic). Times are CPU seconds
(``time.process_time``), the best of ``--repeat`` runs.
"""

import argparse
import cProfile
import pickle
import pstats
import sys
import time
from pathlib import Path

import numpy as np

DATA = Path("/tmp/hot_data")
REPO = Path(__file__).resolve().parents[1]
FILTERS = ("F150W", "F090W", "F200W")
SIZE = 1024


def prepare():
    """Simulate and store the inputs of every timed function (skipped for filters already done)."""
    sys.path.insert(0, str(REPO / "tests"))
    import simdata
    from stdatamodels.jwst import datamodels  # noqa: F401

    from image3.io.product_meta import SipSettings
    from image3.outlier_detection import files as outlier_files
    from image3.outlier_detection import outliers
    from image3.resample.drizzle import Exposure
    from image3.resample.grid import make_grid
    from image3.resample.i2d import build_i2d
    from image3.resample.settings import DrizzleSettings
    from image3.wcs.pixmap import pixel_map

    for filt in FILTERS:
        folder = DATA / filt
        if (folder / "done").exists():
            continue
        folder.mkdir(parents=True, exist_ok=True)
        sim = simdata.settings(filter=filt, shape=[SIZE, SIZE])
        scene, truth, models, crs = simdata.simulate(sim)
        for k, (model, entry) in enumerate(zip(models, truth, strict=True)):
            model.meta.wcs = simdata.true_wcs(entry, model.data.shape)
            model.meta.background.level = entry["sky_level"]
            model.meta.background.subtracted = False
            model.save(str(folder / f"exp{k}_cal.fits"))
        grid = make_grid([(m.meta.wcs, m.data.shape) for m in models])
        settings = DrizzleSettings(fillval="NaN", good_bits="~DO_NOT_USE")
        paths = []
        for k, m in enumerate(models):
            single = outliers.single_image(Exposure.from_model(m), grid, settings, 0.0311)
            paths.append(folder / f"single{k}.fits")
            outlier_files.write_single(paths[-1], single)
        median, count = outlier_files.median_image(paths)
        for k, (m, entry) in enumerate(zip(models, truth, strict=True)):
            blotted, coverage = outliers.blot(median, count, pixel_map(m.meta.wcs, grid.wcs, m.data.shape))
            np.savez(
                folder / f"flag{k}.npz",
                data=m.data,
                err=m.err,
                blotted=blotted,
                coverage=coverage,
                usable=(m.dq & 1) == 0,
                sky=entry["sky_level"],
            )
        arrays, grid = simdata.drizzle(models, grid)
        exptime = sum(m.meta.exposure.exposure_time for m in models)
        i2d = build_i2d(
            arrays, grid, models[0], DrizzleSettings(), len(models), exptime, 0.0311, SipSettings()
        )
        i2d.save(str(folder / "mosaic_i2d.fits"))
        with open(folder / "truth.pkl", "wb") as f:
            pickle.dump({"scene": scene, "truth": truth, "crs": crs}, f)
        (folder / "done").touch()
        print(f"{filt}: prepared in {folder}")


def _cal_paths(filt):
    return sorted((DATA / filt).glob("exp*_cal.fits"))


def job_tweakreg(filt):
    """find_sources on each exposure (inputs read outside the timing); returns the catalogs."""
    from image3.io.fits_read import read_lean
    from image3.tweakreg.settings import DetectionSettings
    from image3.tweakreg.source_finding import find_sources
    from image3.utils.psf_width import detection_fwhm

    settings = DetectionSettings()
    inputs = []
    for p in _cal_paths(filt):
        lean = read_lean(str(p))
        inputs.append((lean.arrays["sci"], lean.arrays["dq"], detection_fwhm(lean.filter, 0.0311)))
    return lambda: [find_sources(d, q, f, settings) for d, q, f in inputs]


def job_outliers(filt):
    """flag_outliers on each exposure, from the stored blotted medians."""
    from image3.outlier_detection.outliers import flag_outliers
    from image3.outlier_detection.settings import FlagSettings

    inputs = [dict(np.load(p)) for p in sorted((DATA / filt).glob("flag*.npz"))]
    settings = FlagSettings()
    return lambda: [
        flag_outliers(
            i["data"], i["err"], i["blotted"], i["coverage"], float(i["sky"]), settings, i["usable"]
        )
        for i in inputs
    ]


def job_skymatch(filt):
    """measure_files on the 6 exposures (reading the files is part of the job)."""
    from image3.skymatch.settings import SkySettings
    from image3.skymatch.sky import measure_files

    paths = [str(p) for p in _cal_paths(filt)]
    names = [p.name.removesuffix("_cal.fits") for p in _cal_paths(filt)]
    return lambda: measure_files(paths, names, SkySettings(group_exposures=False))


def job_catalog(filt):
    """single_band_catalog of the mosaic (no reference files: apertures from the mosaic)."""
    from stdatamodels.jwst import datamodels

    from image3.source_catalog.catalog import BandImage, single_band_catalog
    from image3.source_catalog.settings import CatalogSettings

    with datamodels.open(str(DATA / filt / "mosaic_i2d.fits")) as model:
        band = BandImage.from_model(model)
    return lambda: single_band_catalog(band, CatalogSettings())


JOBS = {
    "tweakreg_catalog": job_tweakreg,
    "outlier_flag": job_outliers,
    "skymatch": job_skymatch,
    "source_catalog": job_catalog,
}


def _best_cpu(fn, repeat):
    best = np.inf
    for _ in range(repeat):
        t0 = time.process_time()
        fn()
        best = min(best, time.process_time() - t0)
    return best


def time_jobs(names, filters, repeat):
    import logging

    logging.disable(logging.WARNING)
    rows = []
    for name in names:
        for filt in filters:
            fn = JOBS[name](filt)
            fn()  # warm up (imports, caches)
            cpu = _best_cpu(fn, repeat)
            rows.append((name, filt, cpu))
            print(f"{name:18s} {filt}  {cpu:7.2f} s CPU (best of {repeat})", flush=True)
    return rows


def profile(name, filt):
    fn = JOBS[name](filt)
    fn()
    prof = cProfile.Profile()
    prof.runcall(fn)
    pstats.Stats(prof).sort_stats("cumulative").print_stats(30)
    pstats.Stats(prof).sort_stats("tottime").print_stats(25)


def save(folder):
    """Every timed function's outputs on every filter, pickled (for :func:`compare`)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, job in JOBS.items():
        for filt in FILTERS:
            out = job(filt)()
            if name == "skymatch":
                out = {"levels": out.levels, "local": {k: v.value for k, v in out.local.items()}}
            elif name == "source_catalog":
                out = {"table": out[0], "segm": out[1]}
            with open(folder / f"{name}_{filt}.pkl", "wb") as f:
                pickle.dump(out, f)
            print("saved", name, filt, flush=True)


def compare(before, after):
    """Differences between two :func:`save` folders, per function and filter."""
    from scipy.spatial import cKDTree

    for filt in FILTERS:

        def load(folder, name, filt=filt):
            with open(Path(folder) / f"{name}_{filt}.pkl", "rb") as f:
                return pickle.load(f)

        # tweakreg catalogs: matched within 0.01 pixel, fluxes
        b, a = load(before, "tweakreg_catalog"), load(after, "tweakreg_catalog")
        for k, (tb, ta) in enumerate(zip(b, a, strict=True)):
            xb, xa = np.column_stack([tb["x"], tb["y"]]), np.column_stack([ta["x"], ta["y"]])
            d, i = cKDTree(xa).query(xb) if len(xa) else (np.full(len(xb), np.inf), None)
            m = d < 0.01
            fl = np.max(np.abs(ta["flux"][i[m]] / tb["flux"][m] - 1)) if m.any() else np.nan
            print(
                f"{filt} tweakreg exp{k}: {len(tb)} -> {len(ta)} sources, {m.sum()} within 0.01 pix "
                f"(max offset {d[m].max() if m.any() else np.nan:.2e}), max |flux ratio - 1| {fl:.2e}"
            )
        b, a = load(before, "outlier_flag"), load(after, "outlier_flag")
        for k, ((mb, pb), (ma, pa)) in enumerate(zip(b, a, strict=True)):
            print(
                f"{filt} outliers exp{k}: {mb.sum()} -> {ma.sum()} flagged, {np.sum(mb != ma)} differ; "
                f"psf_term {np.round(pb, 5)} -> {np.round(pa, 5)}"
            )
        b, a = load(before, "skymatch"), load(after, "skymatch")
        dl = max(abs(b["levels"][n] - a["levels"][n]) for n in b["levels"])
        dloc = max(abs(b["local"][n] - a["local"][n]) for n in b["local"])
        print(f"{filt} skymatch: max |level difference| {dl:.2e} MJy/sr, local {dloc:.2e} MJy/sr")
        b, a = load(before, "source_catalog"), load(after, "source_catalog")
        tb, ta = b["table"], a["table"]
        same_segm = np.array_equal(b["segm"], a["segm"])
        print(f"{filt} catalog: {len(tb)} -> {len(ta)} sources, segmentation identical: {same_segm}")
        if len(tb) == len(ta):
            worst = []
            for col in tb.colnames:
                vb, va = tb[col], ta[col]
                if not hasattr(vb, "unit") and vb.dtype.kind not in "fiub":
                    continue
                try:
                    fb = np.asarray(getattr(vb, "value", vb), float)
                    fa = np.asarray(getattr(va, "value", va), float)
                except (TypeError, ValueError):
                    continue
                with np.errstate(all="ignore"):
                    rel = np.nanmax(np.abs(fa - fb) / np.maximum(np.abs(fb), 1e-30))
                    nan_diff = np.sum(np.isnan(fa) != np.isnan(fb))
                if rel > 1e-6 or nan_diff:
                    worst.append(f"{col} {rel:.1e} ({nan_diff} NaN differ)")
            print(f"{filt} catalog columns beyond 1e-6 relative: {', '.join(worst) or 'none'}")


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("command", choices=("prepare", "time", "profile", "save", "compare"))
    parser.add_argument("args", nargs="*")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", nargs="*", default=list(JOBS))
    parser.add_argument("--filters", nargs="*", default=["F150W"])
    opts = parser.parse_args()
    if opts.command == "prepare":
        prepare()
    elif opts.command == "time":
        time_jobs(opts.only, opts.filters, opts.repeat)
    elif opts.command == "profile":
        profile(opts.args[0], opts.args[1] if len(opts.args) > 1 else "F150W")
    elif opts.command == "save":
        save(opts.args[0])
    else:
        compare(*opts.args)


if __name__ == "__main__":
    main()
