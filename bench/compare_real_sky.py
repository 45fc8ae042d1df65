#!/usr/bin/env python
"""This workflow and the official pipeline (calwebb_image3) on the real-sky demo, against the
simulator's truth (issue #28).

One invocation:

1. makes (once; reused later) the official pipeline's virtual environment, as
   bench/compare_official.py does (``--venv``, default bench/runs/official-venv);
2. simulates config/demo_real_sky.yaml (saturated stars with diffraction spikes, 1/f striping, a
   large galaxy, a sky gradient and a wisp; two visits 4 degrees apart in roll) at ``--size``² with
   ``--n-exposures`` exposures;
3. runs ``strun calwebb_image3 <asn.json>`` in that environment, offline, official defaults (the
   simulator's APCORR/ABVEGAOFFSET as overrides), and this workflow on the same association with its
   defaults, one after the other, ``--repeat`` rounds alternating which runs first;
4. measures each side's products against the truth (demo/truth/):
   - alignment: relative RMS (mas) of the _crf files' WCS about their common rigid motion
     (``relative_alignment_rms`` of tests/simdata.py);
   - sky: RMS (mJy/sr) of the _crf files' ``meta.background.level`` minus the true sky level, about
     their mean (skymatch's match leaves a common offset);
   - flagged spike pixels: the fraction of spike pixels (the truth's spikes and halo above 3 x ERR,
     more than 5 pixels from any saturated pixel) that each _crf's DQ marks OUTLIER;
   - spurious entries near bright stars: catalog entries within ``REACH`` of a bright star with no
     true source within 0.15" (the star itself: any entry within 0.3"), per bright star, and whether
     the star itself has an entry, once the catalog is moved by its median offset from the truth
     (relative alignment leaves the reference exposure's pointing error, up to 0.5");
   - the large galaxy: catalog entries within 1.5 effective radii of its centre that match no other
     true source, and the total flux of the entry nearest its centre against the truth (each side's
     best total: ``kron_total_flux`` where the catalog has it, else ``kron_flux``);
5. prints a Markdown table (``--markdown-out`` appends it to a file).

Units: arcsec on the sky, mas for alignment, mJy/sr for sky levels, s for wall times.

Usage: python bench/compare_real_sky.py [--size 1024] [--n-exposures 6] [--repeat 2] [--keep]
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
from pathlib import Path

import numpy as np
import yaml

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
import compare_alignment  # noqa: E402  (bench/ is not a package)
import compare_official  # noqa: E402
import run_bench  # noqa: E402

REPO = BENCH.parent
DEMO_CONFIG = REPO / "config" / "demo_real_sky.yaml"
REACH = 5.0  # arcsec around a bright star searched for spurious entries
MATCH = 0.15  # arcsec: an entry this close to a true source is real
OUTLIER = 16  # the DQ bit the outlier step sets


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", type=int, default=1024, help="simulate.shape = [size, size] (default 1024)")
    p.add_argument(
        "--n-exposures", type=int, default=6, help="simulate.n_exposures (default 6: 2 visits x 3)"
    )
    p.add_argument("--cores", type=int, default=2, help="snakemake --cores (default 2)")
    p.add_argument("--repeat", type=int, default=2, help="rounds of both sides, alternating (default 2)")
    p.add_argument("--workdir", type=Path, help="work directory (default bench/runs/real-sky-<size>)")
    p.add_argument(
        "--venv", type=Path, default=BENCH / "runs" / "official-venv", help="official pipeline's venv"
    )
    p.add_argument("--jwst-version", default=compare_official.JWST_VERSION)
    p.add_argument("--snakemake", default="snakemake", help="snakemake executable (default: from PATH)")
    p.add_argument("--keep", action="store_true", help="keep the simulated data and products")
    p.add_argument("--markdown-out", type=Path, help="append the report to this file")
    args = p.parse_args(argv)
    args.workdir = (args.workdir or BENCH / "runs" / f"real-sky-{args.size}").resolve()
    args.venv = args.venv.absolute()
    args.repo, args.rev, args.poll, args.wait_idle = REPO, None, 0.2, 0
    return args


# --- the products of each side -------------------------------------------------------------------


def crf_files(folder: Path, names) -> dict:
    """{file name: _crf path} of a side's outputs (both name them <name>_<asn_id>_crf.fits)."""
    found = {}
    for name in names:
        paths = sorted(folder.rglob(f"{name}_*crf.fits"))
        if paths:
            found[name] = paths[0]
    return found


def catalog_file(folder: Path, product: str) -> Path | None:
    paths = sorted(folder.rglob(f"{product}_cat.ecsv"))
    return paths[0] if paths else None


# --- the measurements ----------------------------------------------------------------------------


def measure_crf(simdata, crfs: dict, truth: dict, demo: Path) -> dict:
    """Alignment (mas), sky level RMS (mJy/sr) and flagged spike-pixel fraction of the _crf files."""
    from astropy.io import fits
    from stdatamodels.jwst import datamodels

    if set(crfs) != set(truth):
        return {"alignment": None, "sky": None, "spikes_flagged": None, "spike_pixels": 0}
    wcs, level, flagged, spike_total = {}, {}, 0, 0
    for name, path in crfs.items():
        with datamodels.open(path) as model:
            wcs[name] = model.meta.wcs
            level[name] = model.meta.background.level or 0.0
            dq, err = model.dq, model.err
        with fits.open(demo / "truth" / f"{name}_artefacts.fits") as hdul:
            wings = hdul["WINGS"].data
            saturated = hdul["SATURATED"].data.astype(bool)
        from scipy import ndimage

        near_core = ndimage.binary_dilation(saturated, iterations=5)
        spikes = (wings > 3 * np.nan_to_num(err, nan=np.inf)) & ~near_core
        spike_total += int(spikes.sum())
        flagged += int(np.count_nonzero(dq[spikes] & OUTLIER))
    shape = compare_alignment.common_shape(crfs)
    names = list(truth)
    offsets = np.array([level[n] - truth[n]["sky_level"] for n in names])
    return {
        "alignment": simdata.relative_alignment_rms(
            [wcs[n] for n in names], [truth[n] for n in names], shape
        ),
        "sky": float(np.sqrt(np.mean((offsets - offsets.mean()) ** 2)) * 1e3),
        "spikes_flagged": flagged / spike_total if spike_total else None,
        "spike_pixels": spike_total,
    }


def measure_catalog(path: Path | None, scene) -> dict:
    """Spurious entries near the bright stars, the stars' own entries (and whether ``flags & 4``
    marks them saturated), the large galaxy's entries and total flux (the entry nearest its
    centre, in Jy, against the truth ``flux_jy``)."""
    from astropy.coordinates import SkyCoord
    from astropy.table import Table

    if path is None:
        return {}
    cat = Table.read(path, format="ascii.ecsv")
    true = SkyCoord(scene["ra"], scene["dec"], unit="deg")
    entries = _registered(cat["sky_centroid"], true)
    _, sep_true, _ = entries.match_to_catalog_sky(true)
    matched = sep_true.arcsec < MATCH
    out = {"entries": len(cat), "spurious_near_stars": [], "stars_found": 0}
    for star in scene[scene["artefact"] == "bright_star"]:
        centre = SkyCoord(star["ra"], star["dec"], unit="deg")
        distance = entries.separation(centre).arcsec
        own = distance < 0.3
        out["stars_found"] += int(own.any())
        if "flags" in cat.colnames:
            out["stars_flagged"] = out.get("stars_flagged", 0) + int(np.any(own & (cat["flags"] & 4 > 0)))
        out["spurious_near_stars"].append(int(np.sum((distance < REACH) & ~own & ~matched)))
    galaxy = scene[scene["artefact"] == "large_galaxy"]
    if len(galaxy):
        g = galaxy[0]
        centre = SkyCoord(g["ra"], g["dec"], unit="deg")
        distance = entries.separation(centre).arcsec
        others = scene[scene["artefact"] != "large_galaxy"]
        _, sep_other, _ = entries.match_to_catalog_sky(SkyCoord(others["ra"], others["dec"], unit="deg"))
        inside = (distance < 1.5 * g["r_eff"]) & (sep_other.arcsec >= MATCH)
        out["galaxy_entries"] = int(inside.sum())
        nearest = int(np.argmin(distance))
        column = next(c for c in ("kron_total_flux", "kron_flux", "isophotal_flux") if c in cat.colnames)
        out["galaxy_flux_column"] = column
        flux = cat[column][nearest]
        out["galaxy_flux_ratio"] = float(np.asarray(flux) / g["flux_jy"]) if distance[nearest] < 1.0 else None
    return out


def _registered(entries, true):
    """``entries`` moved by their median offset from the nearest true sources within 1" (relative
    alignment leaves the mosaic off by the reference exposure's pointing error, up to 0.5")."""
    from astropy import units as u
    from astropy.coordinates import SkyCoord

    index, sep, _ = entries.match_to_catalog_sky(true)
    near = sep.arcsec < 1.0
    if near.sum() < 5:
        return entries
    d_ra = np.median(((true.ra[index] - entries.ra).wrap_at(180 * u.deg)).deg[near])
    d_dec = np.median((true.dec[index] - entries.dec).deg[near])
    return SkyCoord(entries.ra.deg + d_ra, entries.dec.deg + d_dec, unit="deg")


# --- the run ------------------------------------------------------------------------------------


def sides(args, dataset, env) -> dict:
    folder_off, folder_ours = args.workdir / "official", args.workdir / "ours"
    folder_off.mkdir()
    folder_ours.mkdir()
    official = compare_official.Side(
        "official",
        [
            str(args.venv / "bin" / "strun"),
            "calwebb_image3",
            str(dataset.asn),
            f"--output_dir={folder_off}",
            f"--steps.source_catalog.override_apcorr={dataset.apcorr}",
            f"--steps.source_catalog.override_abvegaoffset={dataset.abvegaoffset}",
        ],
        folder_off,
        compare_official.offline_env(args.workdir / "crds_cache"),
        folder_off / "calwebb_image3.log",
    )
    config = folder_ours / "compare_config.yaml"
    config.write_text(
        yaml.safe_dump(
            {"source_catalog": {"apcorr": str(dataset.apcorr), "abvegaoffset": str(dataset.abvegaoffset)}}
        )
    )
    ours = compare_official.Side(
        "ours",
        [
            args.snakemake,
            "--snakefile",
            str(REPO / "Snakefile"),
            "--directory",
            str(folder_ours),
            "--cores",
            str(args.cores),
            "--configfile",
            str(config),
            "--config",
            f"asn={dataset.asn}",
            "outdir=results",
        ],
        folder_ours,
        env,
        folder_ours / "snakemake.log",
    )
    return {"official": official, "ours": ours}


def report(args, info, rounds, results) -> str:
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"### Real-sky demo against the official pipeline ({args.n_exposures} x {args.size}², "
        f"config/demo_real_sky.yaml), {now}",
        "",
        f"`python bench/compare_real_sky.py --size {args.size} --n-exposures {args.n_exposures} "
        f"--repeat {args.repeat}`; {info['git']}; official: jwst {info['venv'].get('jwst', '?')}; "
        f"{info['nproc']} cores.",
        "",
        "| figure (truth: the simulator's) | official | ours |",
        "|---|---|---|",
    ]

    def cell(side, key, fmt):
        value = results[side].get(key)
        return "-" if value is None else fmt.format(value)

    rows = [
        ("relative alignment, mas RMS", "alignment", "{:.2f}"),
        ("sky level error, mJy/sr RMS (about the mean)", "sky", "{:.2f}"),
        ("spike pixels flagged OUTLIER (outside 5 px of cores)", "spikes_flagged", "{:.2%}"),
        ("catalog entries", "entries", "{}"),
        ("bright stars with an entry of their own", "stars_found", "{}"),
        (f'spurious entries within {REACH:g}" of each bright star', "spurious_near_stars", "{}"),
        ("entries on the large galaxy (1.5 r_eff, no other true source)", "galaxy_entries", "{}"),
        ("bright stars whose entry is flagged saturated", "stars_flagged", "{}"),
        ("large galaxy: total flux / truth (entry nearest its centre)", "galaxy_flux_ratio", "{:.3f}"),
        ("  the flux column", "galaxy_flux_column", "`{}`"),
    ]
    for label, key, fmt in rows:
        lines.append(f"| {label} | {cell('official', key, fmt)} | {cell('ours', key, fmt)} |")
    walls = {
        name: [r[1][name][0] for r in rounds if r[1][name][0] is not None] for name in ("official", "ours")
    }
    lines.append(
        "| wall time, s (each round) | "
        + " | ".join(", ".join(f"{w:.0f}" for w in walls[n]) or "-" for n in ("official", "ours"))
        + " |"
    )
    lines.append("")
    return "\n".join(lines)


def main(argv=None):
    args = parse_args(argv)
    compare_official.prepare_workdir(args.workdir, REPO)
    info = run_bench.machine_info(args.snakemake)
    info["venv"] = compare_official.ensure_venv(args.venv, args.jwst_version)
    info["git"] = f"{compare_official.git_describe(REPO)} (working tree)"
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    )
    sys.path.insert(0, str(REPO))
    base = yaml.safe_load(DEMO_CONFIG.read_text())["simulate"]
    settings = {**base, "n_exposures": args.n_exposures, "shape": [args.size, args.size]}
    dataset = compare_official.simulate(args, REPO, env, configfiles=[DEMO_CONFIG], settings=settings)
    runs = sides(args, dataset, env)
    rounds = []
    for k in range(args.repeat):
        order = ["official", "ours"] if k % 2 == 0 else ["ours", "official"]
        for name in order:
            if k:
                compare_official._reset(runs[name], keep={"compare_config.yaml"})
            compare_official.run_timed(runs[name], args.poll, args.wait_idle, info["nproc"])
        rounds.append((order[0], {n: (s.wall, s.max_rss_mib, s.returncode) for n, s in runs.items()}))

    from astropy.table import Table

    from image3.simulate.dataset import read_exposure_truth

    simdata = compare_alignment.load_simdata()
    demo = args.workdir / "sim" / compare_official.DEMO_DIR
    truth = read_exposure_truth(demo / "truth" / "exposures.json")
    scene = Table.read(demo / "truth" / "scene.ecsv", format="ascii.ecsv")
    results = {}
    for name, side in runs.items():
        results[name] = {
            **measure_crf(simdata, crf_files(side.cwd, truth), truth, demo),
            **measure_catalog(catalog_file(side.cwd, dataset.product), scene),
        }
    text = report(args, info, rounds, results)
    print(text)
    if args.markdown_out:
        with open(args.markdown_out, "a") as out:
            out.write("\n" + text)
    if not args.keep:
        for sub in ("official", "ours"):
            for path in (args.workdir / sub).rglob("*.fits"):
                path.unlink()


if __name__ == "__main__":
    main()
