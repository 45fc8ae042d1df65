"""Running the workflow in a test: snakemake on the small demo in a work directory, the jobs a dry
run plans, user associations, and comparing products between runs."""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import yaml
from astropy.io import fits

from image3.simulate import demo as demo_names

REPO = Path(__file__).resolve().parents[1]
N_EXPOSURES = 4
# Small enough for CI, dense enough (about 60 stars per exposure) for tweakreg's minobj of 15.
SMALL = {
    "simulate": {
        "shape": [384, 384],
        "n_exposures": N_EXPOSURES,
        "star_density": 1500,
        "galaxy_density": 100,
    },
    "skymatch": {"skymethod": "global+match"},
}
# The moving-target demo: SMALL with a target moving 3.3 arcsec between exposures (30 arcsec/h,
# 400 s apart), tracked, so the static field drifts by that much: tweakreg matches each exposure to
# all those aligned before it (expand_refcat), not to the first alone. Per-exposure _i2d files too.
MOVING = {
    **SMALL,
    "simulate": {**SMALL["simulate"], "moving_target": True},
    "tweakreg": {"expand_refcat": True},
    "resample": {"single_exposure_products": True},
}
# The small demo in tiles (its grid is 476 x 541): 2 x 2 tiles of at most 360², interiors of 280²
# with 40-pixel margins. Its products are the demo's (the same grid and exposures) up to the crf.
TILED = {**SMALL, "tiles": {"size": 360, "margin": 40, "max_tiles": 100}}
PRODUCT = demo_names.product_name("F150W")
EXPOSURES = demo_names.exposure_names(N_EXPOSURES)


def merged(base, override):
    """``base`` with ``override`` merged into it, section by section (as --configfile merges)."""
    out = dict(base)
    for key, value in override.items():
        out[key] = merged(out[key], value) if isinstance(value, dict) and key in out else value
    return out


def snakemake_command(workdir, *args, config=None, cores=2):
    """The command that runs the repository's Snakefile in ``workdir`` with an override config
    (written to ``workdir/override.yaml``; SMALL by default). ``cores=None`` leaves --cores out."""
    override = workdir / "override.yaml"
    override.write_text(yaml.safe_dump(config if config is not None else SMALL))
    cores_args = ["--cores", str(cores)] if cores is not None else []
    return [
        sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
        "--directory", str(workdir), "--configfile", str(override), *cores_args, *args,
    ]  # fmt: skip


def snakemake(workdir, *args, config=None, check=True, cores=2, timeout=None):
    """Run snakemake (see snakemake_command); with ``check``, fail the test if it fails."""
    cmd = snakemake_command(workdir, *args, config=config, cores=cores)
    result = subprocess.run(
        cmd, capture_output=True, text=True, cwd=workdir, stdin=subprocess.DEVNULL, timeout=timeout
    )
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake failed:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}")
    return result


def planned_jobs(workdir, config=None):
    """Rule -> number of jobs that ``snakemake -n`` would run ({} when nothing would)."""
    result = snakemake(workdir, "-n", config=config)
    text = result.stdout + result.stderr
    if "Nothing to be done" in text:
        return {}
    table = text.split("Job stats:", 1)[1]
    jobs = dict(re.findall(r"^(\w+)\s+(\d+)\s*$", table, flags=re.M))
    jobs.pop("total", None)
    return {rule: int(n) for rule, n in jobs.items()}


def executed_jobs(result):
    """Rule -> number of jobs a finished run (a :func:`snakemake` result) ran, from the job headers
    of its log: unlike a dry run's plan, this includes the jobs a checkpoint added (`all` left out)."""
    headers = re.findall(r"^(?:local)?(?:rule|checkpoint) (\w+):$", result.stdout + result.stderr, flags=re.M)
    jobs = {rule: headers.count(rule) for rule in set(headers)}
    jobs.pop("all", None)
    return jobs


def user_asn(path, products, asn_id="o009"):
    """Write an image3 association: ``products`` maps product name -> member file names."""
    asn = {
        "asn_type": "image3",
        "asn_id": asn_id,
        "products": [
            {"name": name, "members": [{"expname": m, "exptype": "science"} for m in members]}
            for name, members in products.items()
        ],
    }
    path.write_text(json.dumps(asn))


def copy_workdir(src, dst):
    """A copy of a work directory (inputs, products and Snakemake's records, times kept), so that
    Snakemake sees the same state in it."""
    shutil.copytree(src, dst, symlinks=True)
    return dst


def product_files(workdir, product=PRODUCT, asn_id="o001", exposures=EXPOSURES):
    """A product's _i2d file and its members' _crf files, under ``workdir/results``."""
    out = Path(workdir) / "results" / product
    return [out / f"{product}_i2d.fits"] + [out / f"{e}_{asn_id}_crf.fits" for e in exposures]


def _images(path):
    with fits.open(path) as hdul:
        return {h.name: h.data.copy() for h in hdul if h.is_image and h.data is not None}


def assert_same_arrays(expected, actual):
    """Every image extension of the two FITS files holds the same array (NaN equals NaN)."""
    want, got = _images(expected), _images(actual)
    assert got.keys() == want.keys(), f"{actual}: extensions {sorted(got)}, expected {sorted(want)}"
    assert {"SCI", "ERR"} <= want.keys(), f"{expected} has no SCI/ERR"
    for name, data in want.items():
        np.testing.assert_array_equal(got[name], data, err_msg=f"{actual.name} [{name}]")


def assert_same_products(expected_files, actual_files):
    for expected, actual in zip(expected_files, actual_files, strict=True):
        assert_same_arrays(expected, actual)


# The date stamps a product carries: the file's creation time (FITS DATE, the datamodel's meta.date)
# and stdatamodels' hash of the FITS HDUs (_fits_hash), which the DATE card is part of.
_DATE_STAMPS = (
    re.compile(rb"DATE    = '[^']*'"),
    re.compile(rb"date: '\d{4}-\d\d-\d\dT[^']*'"),
    re.compile(rb"_fits_hash: [0-9a-f]{64}"),
)


def _without_date_stamps(path):
    data = Path(path).read_bytes()
    for stamp in _DATE_STAMPS:
        data = stamp.sub(lambda m: b"#" * len(m.group()), data)
    return data


def assert_same_bytes_but_dates(expected_files, actual_files):
    """Each pair of files identical byte for byte, except the creation date stamps (same length)."""
    for expected, actual in zip(expected_files, actual_files, strict=True):
        assert _without_date_stamps(actual) == _without_date_stamps(expected), f"{actual} differs"
