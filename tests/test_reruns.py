"""Incremental reruns on the small demo: a parameter change reruns its step and what is downstream of
it, nothing else; an interrupted run finishes with --rerun-incomplete; a new association member runs
its own jobs and the product's, not the other members'."""

import os
import shutil
import signal
import subprocess
import time

import pytest
from workflow_helpers import (
    EXPOSURES,
    MOVING,
    N_EXPOSURES,
    PRODUCT,
    SMALL,
    TILED,
    assert_same_bytes_but_dates,
    assert_same_products,
    copy_workdir,
    executed_jobs,
    merged,
    planned_jobs,
    product_files,
    snakemake,
    snakemake_command,
    user_asn,
)

pytestmark = pytest.mark.workflow

N = N_EXPOSURES
# Downstream blocks. Outlier detection's single images and median are temporary files, so any rerun of
# its flags re-creates them.
OUTLIERS = {"outlier_single": N, "outlier_median": 1, "relay_median": 1, "outlier_flag": N, "outlier_qa": 1}
CATALOG = {"source_catalog": 1, "catalog_qa": 1}
PRODUCTS = {"crf": N, "resample": 1, "preview": 1, **CATALOG}
# The relays (rules/relay.smk) of the WCS set, the geometry and the sky levels.
AFTER_ALIGNMENT = {
    "tweakreg": 1,
    "relay": 3,
    "tweakreg_qa": 1,
    "skymatch": 1,
    "skymatch_qa": 1,
    "geometry": 1,
    "resample_grid": 1,
    **OUTLIERS,
    **PRODUCTS,
}
# One entry per step: a change of one of its parameters (merged over SMALL) and the jobs a rerun must
# run, rule -> count: the step's own and everything downstream of it (`all` is left out). Adding a
# step to the workflow = adding its entry here (test_every_step_has_an_entry fails until then).
STEPS = {
    "simulate_plan": (
        {"simulate": {"star_density": 1400}},
        {"simulate_plan": 1, "simulate_exposure": N, "tweakreg_catalog": N, **AFTER_ALIGNMENT},
    ),
    "simulate_exposure": (
        {"simulate": {"read_noise_e": 5.0}},
        {"simulate_exposure": N, "tweakreg_catalog": N, **AFTER_ALIGNMENT},
    ),
    # The association's only parameter is its member list, i.e. n_exposures, which the plan uses too.
    "simulate_association": (
        {"simulate": {"n_exposures": N + 1}},
        {
            "simulate_plan": 1,
            "simulate_association": 1,
            "simulate_exposure": N + 1,
            "tweakreg_catalog": N + 1,
            **AFTER_ALIGNMENT,
            "outlier_single": N + 1,
            "outlier_flag": N + 1,
            "crf": N + 1,
        },
    ),
    "tweakreg_catalog": ({"tweakreg": {"snr_threshold": 8.0}}, {"tweakreg_catalog": N, **AFTER_ALIGNMENT}),
    "tweakreg": ({"tweakreg": {"searchrad": 1.5}}, AFTER_ALIGNMENT),
    "skymatch": (
        {"skymatch": {"skystat": "median"}},
        {"skymatch": 1, "relay": 1, "skymatch_qa": 1, **OUTLIERS, **PRODUCTS},
    ),
    "geometry": (
        {"resample": {"pixmap_step": 8}},
        {
            "geometry": 1,
            "relay": 2,
            "skymatch": 1,
            "skymatch_qa": 1,
            "resample_grid": 1,
            **OUTLIERS,
            **PRODUCTS,
        },
    ),
    "resample_grid": ({"resample": {"rotation": 0.0}}, {"resample_grid": 1, **OUTLIERS, **PRODUCTS}),
    "outlier_single": ({"outlier_detection": {"pixfrac": 0.9}}, {**OUTLIERS, **PRODUCTS}),
    "outlier_median": ({"outlier_detection": {"maskpt": 0.6}}, {**OUTLIERS, **PRODUCTS}),
    "outlier_flag": ({"outlier_detection": {"snr": "4.5 3.5"}}, {**OUTLIERS, **PRODUCTS}),
    # The _crf files are products only: resample drizzles what they are made of, beside them.
    "crf": ({"tweakreg": {"sip_max_pix_error": 0.02}}, {"crf": N}),
    "resample": ({"resample": {"pixfrac": 0.8}}, {"resample": 1, "preview": 1, **CATALOG}),
    "source_catalog": ({"source_catalog": {"snr_threshold": 4.0}}, CATALOG),
    # The reference files' only parameter is the demo's filter, which names the product: all reruns.
    "simulate_reference_files": (
        {"simulate": {"filter": "F200W"}},
        {
            "simulate_reference_files": 1,
            "simulate_association": 1,
            "simulate_exposure": N,
            "tweakreg_catalog": N,
            **AFTER_ALIGNMENT,
        },
    ),
}
# Further keys, each with the jobs its change must rerun (the same as its step's entry above).
KEYS = {
    "simulate.cosmic_ray_mix": (
        {"simulate": {"cosmic_ray_mix": {"single": 1.0, "track": 1.0, "core": 0.0, "snowball": 0.0}}},
        STEPS["simulate_exposure"][1],
    ),
    "outlier_detection.lacosmic_sharpness": (
        {"outlier_detection": {"lacosmic_sharpness": 5.0}},
        STEPS["outlier_flag"][1],
    ),
    "simulate.cosmic_ray_energy_e": (
        {"simulate": {"cosmic_ray_energy_e": [50.0, 40000.0]}},
        STEPS["simulate_exposure"][1],
    ),
}
# The moving-target demo (workflow_helpers.MOVING) adds assign_mtwcs between tweakreg and the steps
# after it, and the per-exposure _i2d files; its entries are checked against that demo.
MOVING_STEPS = {
    "tweakreg": (
        {"tweakreg": {"searchrad": 1.5}},
        {**AFTER_ALIGNMENT, "assign_mtwcs": 1, "resample_exposure": N},
    ),
    "resample_exposure": (
        {"resample": {"pixfrac": 0.8}},
        {"resample": 1, "preview": 1, "resample_exposure": N, **CATALOG},
    ),
}
# The tiled demo (workflow_helpers.TILED: 4 tiles) replaces resample and source_catalog by the tile
# index (a checkpoint), a resample and a catalog job per tile and the merged catalog; its entries are
# checked against that demo. A dry run cannot know the tile jobs while the checkpoint is to run again
# (they depend on its output), so the tile_index entry holds what a dry run plans, and
# test_tile_size_change_reruns_the_tile_jobs_only checks what the run then does.
N_TILES = 4
TILE_CATALOGS = {"source_catalog_tile": N_TILES, "merge_tile_catalogs": 1}
TILED_STEPS = {
    "tile_index": ({"tiles": {"max_tiles": 50}}, {"tile_index": 1, "merge_tile_catalogs": 1}),
    "resample_tile": ({"resample": {"pixfrac": 0.8}}, {"resample_tile": N_TILES, **TILE_CATALOGS}),
    "source_catalog_tile": ({"source_catalog": {"snr_threshold": 4.0}}, TILE_CATALOGS),
    "crf": ({"tweakreg": {"sip_max_pix_error": 0.02}}, {"crf": N}),
}
# Steps that take no parameter from the config: they rerun only as someone's downstream (in the tiled
# DAG the merged catalog: its parameters are the tile layout's, tile_index's too).
WITHOUT_PARAMETERS = {
    *("outlier_qa", "tweakreg_qa", "skymatch_qa", "preview", "catalog_qa", "assign_mtwcs"),
    *("relay", "relay_median"),
}
TILED_WITHOUT_PARAMETERS = {"merge_tile_catalogs"}
# A member added to an association: its source catalog and every per-product job rerun, and with them
# every crf (they all depend on the product's alignment); the other members' source catalogs do not.
ADDED_MEMBER_RERUNS = {"tweakreg_catalog": 1, **AFTER_ALIGNMENT}


def rerun_jobs(workdir, config):
    jobs = planned_jobs(workdir, config)
    jobs.pop("all", None)
    return jobs


def test_every_step_has_an_entry(tmp_path):
    """Every rule of the full DAGs (fixed and moving target) is in STEPS, MOVING_STEPS or
    WITHOUT_PARAMETERS."""
    rules = set(planned_jobs(tmp_path)) | set(planned_jobs(tmp_path, MOVING))
    assert rules - {"all"} == set(STEPS) | set(MOVING_STEPS) | WITHOUT_PARAMETERS


def test_every_tiled_step_has_an_entry(tiled_demo, tmp_path):
    """Every rule of the tiled DAG is in STEPS, TILED_STEPS or a WITHOUT_PARAMETERS: the DAG planned from
    scratch (up to the checkpoint) and, once the tile index exists, the tile jobs a drizzle change
    reruns."""
    rules = set(planned_jobs(tmp_path, TILED)) | set(
        rerun_jobs(tiled_demo, merged(TILED, TILED_STEPS["resample_tile"][0]))
    )
    rules -= {"all"}
    assert {"tile_index", "resample_tile", "source_catalog_tile", "merge_tile_catalogs"} <= rules
    assert rules <= set(STEPS) | set(TILED_STEPS) | WITHOUT_PARAMETERS | TILED_WITHOUT_PARAMETERS
    assert not {"resample", "source_catalog"} & rules


def test_nothing_reruns_without_a_change(demo):
    assert planned_jobs(demo) == {}


def test_running_without_the_job_server_reruns_nothing(demo):
    """How jobs are started (job_server) is no parameter of any step."""
    assert planned_jobs(demo, merged(SMALL, {"job_server": False})) == {}


def test_drizzling_in_one_process_reruns_nothing(demo):
    """How many processes drizzle the mosaic (resample.processes, the job's threads) changes its
    arrays by float32 rounding at most: no parameter of the step."""
    assert planned_jobs(demo, merged(SMALL, {"resample": {"processes": 1}})) == {}


@pytest.mark.parametrize("step", STEPS)
def test_parameter_change_reruns_its_step_and_downstream_only(demo, step):
    override, expected = STEPS[step]
    assert rerun_jobs(demo, merged(SMALL, override)) == expected


@pytest.mark.parametrize("key", KEYS)
def test_key_change_reruns_its_step_and_downstream_only(demo, key):
    override, expected = KEYS[key]
    assert rerun_jobs(demo, merged(SMALL, override)) == expected


@pytest.mark.parametrize("step", MOVING_STEPS)
def test_moving_target_parameter_change_reruns_its_step_and_downstream_only(moving_demo, step):
    override, expected = MOVING_STEPS[step]
    assert rerun_jobs(moving_demo, merged(MOVING, override)) == expected


def test_tiled_nothing_reruns_without_a_change(tiled_demo):
    assert planned_jobs(tiled_demo, TILED) == {}


@pytest.mark.parametrize("step", TILED_STEPS)
def test_tiled_parameter_change_reruns_its_step_and_downstream_only(tiled_demo, step):
    override, expected = TILED_STEPS[step]
    assert rerun_jobs(tiled_demo, merged(TILED, override)) == expected


def test_tile_size_change_reruns_the_tile_jobs_only(tiled_demo, tmp_path):
    """tiles.size 360 -> 600 (2 tiles of one column): the run makes the index, the 2 tiles and their
    catalogs, and the merged catalog, nothing upstream; max_tiles then reruns the index alone (its
    cap changes no tile)."""
    work = copy_workdir(tiled_demo, tmp_path / "work")
    out = work / "results" / PRODUCT
    upstream = [*out.glob("*_crf.fits"), out / "work" / f"{PRODUCT}_grid.json"]
    before = {p: p.stat().st_mtime_ns for p in upstream}
    config = merged(TILED, {"tiles": {"size": 600}})
    ran = executed_jobs(snakemake(work, config=config))
    assert ran == {"tile_index": 1, "resample_tile": 2, "source_catalog_tile": 2, "merge_tile_catalogs": 1}
    assert {p: p.stat().st_mtime_ns for p in upstream} == before
    assert rerun_jobs(work, config) == {}
    ran = executed_jobs(snakemake(work, config=merged(config, {"tiles": {"max_tiles": 10}})))
    assert ran == {"tile_index": 1}


def _wait_for(condition, proc, timeout, what):
    end = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            raise AssertionError(f"snakemake ended (code {proc.returncode}) before {what}")
        if time.monotonic() > end:
            raise AssertionError(f"no {what} within {timeout} s")
        time.sleep(0.02)


def _start_run(work, stderr=subprocess.DEVNULL):
    """Snakemake on ``work`` in the background, in a process group of its own (its jobs and the job
    server with it), as a user's terminal would start it."""
    return subprocess.Popen(
        snakemake_command(work),
        cwd=work,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=stderr,
        text=True,
        start_new_session=True,
    )


def _products(workdir):
    """The product's files a user keeps: the _i2d, the _crf files, the segmentation map, the catalog."""
    out = workdir / "results" / PRODUCT
    return [*product_files(workdir), out / f"{PRODUCT}_segm.fits", out / f"{PRODUCT}_cat.ecsv"]


# Moments to kill a run at: the log files whose appearance marks them (a job opens its log when it
# starts), under results/logs/<product>/.
KILL_MOMENTS = {
    "first source catalogs": "tweakreg_catalog/*.log",
    "outlier flags": "outlier_flag/*.log",
    "resample": "resample.log",
}


@pytest.mark.parametrize("moment", list(KILL_MOMENTS))
def test_run_killed_finishes_with_rerun_incomplete(demo, tmp_path, moment):
    """SIGKILL to the whole snakemake process group (as a node failure or an OOM kill would) as the
    first job of a step starts; ``--unlock`` and ``--rerun-incomplete`` then make products identical
    to an uninterrupted run's (the demo's), with no work file half-written on the way."""
    work = copy_workdir(demo, tmp_path / "work")
    shutil.rmtree(work / "results")  # the inputs stay: the whole product is remade
    logs = work / "results" / "logs" / PRODUCT
    proc = _start_run(work)
    try:
        _wait_for(lambda: any(logs.glob(KILL_MOMENTS[moment])), proc, 180, f"a job of {moment}")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    started = list(logs.glob(KILL_MOMENTS[moment]))
    assert not all("done in" in log.read_text() for log in started), "the step finished before the kill"
    assert not product_files(work)[0].exists()
    assert not [p for p in (work / "results").rglob("*") if p.is_file() and ".tmp" in p.name]

    snakemake(work, "--unlock")
    snakemake(work, "--rerun-incomplete")
    assert_same_bytes_but_dates(_products(demo), _products(work))
    assert rerun_jobs(work, SMALL) == {}


@pytest.mark.skipif(os.geteuid() != 0, reason="mounts a small tmpfs, which needs root")
def test_full_disk_stops_with_one_line_and_the_same_command_resumes(demo, tmp_path):
    """The outdir on a 4 MiB file system (the small demo writes about 26): the run stops with one
    line naming the file it could not write and what to do, no traceback, nothing half-written;
    once space is freed the same command finishes with the uninterrupted run's products."""
    work = copy_workdir(demo, tmp_path / "work")
    results = work / "results"
    shutil.rmtree(results)
    results.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(results)]).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        result = snakemake(work, check=False)
        logs = "".join(p.read_text(errors="replace") for p in results.rglob("*.log"))
        seen = result.stdout + result.stderr + logs
        assert result.returncode != 0
        assert f"no space left on the disk writing {results}/" in seen, seen[-3000:]
        assert "free space there or set outdir on a larger disk" in seen
        assert "Traceback" not in seen, seen[-5000:]
        assert not [p for p in results.rglob("*") if ".tmp" in p.name]
        subprocess.run(["mount", "-o", "remount,size=200m", str(results)], check=True)
        snakemake(work)
        assert_same_bytes_but_dates(_products(demo), _products(work))
    finally:
        subprocess.run(["umount", "-l", str(results)])


def test_added_member_runs_its_own_jobs_and_the_products(demo, tmp_path):
    """A user association with N-1 of the demo's exposures, then all N: the new member's source
    catalog and the per-product jobs (and so every crf) run, the other members' catalogs are not
    remade; the products equal the demo's."""
    data = tmp_path / "data"
    data.mkdir()
    for name in EXPOSURES:
        shutil.copy2(demo / "demo" / f"{name}_cal.fits", data)
    asn = data / "p_asn.json"
    config = {"asn": str(asn), "skymatch": SMALL["skymatch"]}
    members = [f"{name}_cal.fits" for name in EXPOSURES]
    user_asn(asn, {"p": members[:-1]})
    snakemake(tmp_path, config=config)
    catalogs = [tmp_path / "results" / "p" / "work" / f"{name}_tweakreg_cat.ecsv" for name in EXPOSURES[:-1]]
    before = {p: p.stat().st_mtime_ns for p in catalogs}

    user_asn(asn, {"p": members})
    assert rerun_jobs(tmp_path, config) == ADDED_MEMBER_RERUNS
    snakemake(tmp_path, config=config)
    assert {p: p.stat().st_mtime_ns for p in catalogs} == before
    assert_same_products(product_files(demo), product_files(tmp_path, "p", "o009"))


def test_second_run_on_the_same_outdir_is_refused_and_the_first_finishes(demo, tmp_path):
    """Two runs on one work directory at once: the second stops with Snakemake's lock message (no
    traceback) and touches nothing; the first finishes with the demo's products. The first run is
    paused (SIGSTOP to its process group, jobs included) while the second tries, so that it is
    surely still running then, however long the second takes to start."""
    work = copy_workdir(demo, tmp_path / "work")
    shutil.rmtree(work / "results")
    first = _start_run(work, stderr=subprocess.PIPE)
    try:
        _wait_for(lambda: (work / "results" / "logs" / PRODUCT).exists(), first, 180, "the first run's jobs")
        os.killpg(first.pid, signal.SIGSTOP)
        try:
            second = snakemake(work, check=False)
        finally:
            os.killpg(first.pid, signal.SIGCONT)
    finally:
        _, first_errors = first.communicate(timeout=600)
    output = second.stdout + second.stderr
    assert second.returncode != 0
    assert "Directory cannot be locked" in output
    assert "Traceback" not in output
    assert first.returncode == 0, first_errors[-3000:]
    assert_same_products(product_files(demo), product_files(work))
