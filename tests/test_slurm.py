"""The small demo through `--profile profiles/slurm` on a real SLURM cluster (in CI the throw-away
single-node one that .ci/run starts from ../shared/slurm): the jobs go through SLURM, as the profile
bundles them, and the products equal a local run's."""

import datetime
import os
import re
import shutil
import subprocess
from collections import Counter

import pytest
from workflow_helpers import REPO, assert_same_products, product_files, snakemake

pytestmark = pytest.mark.workflow

PROFILE = REPO / "profiles" / "slurm"
# The SLURM jobs of the demo (4 exposures), by the snakemake job or group each ran: the exposures'
# simulate_exposure and crf jobs all in one job of the profile's `per_exposure` group (its
# group-components bundles 4 exposures), every other rule one job per job.
EXPECTED_SLURM_JOBS = {
    "simulate_plan": 1,
    "simulate_association": 1,
    "per_exposure_crf_simulate_exposure": 1,
    "resample_grid": 1,
    "resample": 1,
    "preview": 1,
}


def slurm_problem():
    """Why this machine cannot run the test through SLURM, or None if it can."""
    try:
        import snakemake_executor_plugin_slurm  # noqa: F401
    except ImportError:
        return "snakemake-executor-plugin-slurm is not installed (pip install -e '.[slurm]')"
    # The plugin submits with sbatch and follows the jobs with sacct (slurmdbd accounting).
    checks = {
        "sinfo": ["sinfo", "--noheader", "--responding", "--format=%P %a"],
        "sacct": ["sacct", "--noheader", "--allocations", "--starttime=now"],
    }
    for name, cmd in checks.items():
        if shutil.which(name) is None:
            return f"`{name}` not found: no SLURM client on this machine"
        try:
            result = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        except subprocess.TimeoutExpired:
            return f"`{' '.join(cmd)}` did not answer within 60 s"
        if result.returncode != 0:
            return f"`{' '.join(cmd)}` failed: {(result.stderr or result.stdout).strip()}"
        if name == "sinfo" and " up" not in result.stdout:
            return f"no partition is up and responding (sinfo: {result.stdout.strip()!r})"
    return None


@pytest.fixture(scope="session")  # set up before `demo` (session-wide too), so a skip comes first
def slurm():
    problem = slurm_problem()
    if problem is None:
        return
    # CI runs .ci/run, which starts a throw-away cluster before the tests. If SLURM is not usable
    # there, that start failed: a skip would hide it, so in CI this test fails instead.
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true but SLURM is not usable: {problem}")
    pytest.skip(f"SLURM is not usable: {problem}")


def slurm_jobs(run_id, since):
    """The SLURM jobs of one snakemake run (sbatch --job-name is the run's id): (rule or group, state,
    CPUs) each, the rule or group taken from the --comment the plugin gives sbatch."""
    result = subprocess.run(
        ["sacct", "--noheader", "--parsable2", "--allocations", f"--name={run_id}",
         f"--starttime={since:%Y-%m-%dT%H:%M:%S}", "--format=JobID,State,AllocCPUS,SubmitLine"],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    jobs = []
    for line in result.stdout.splitlines():
        job_id, state, cpus, submit_line = line.split("|", 3)
        comment = re.search(r"--comment\s+'?rule_(\S+?)(?:_wildcards_\S*)?'?(?:\s|$)", submit_line)
        assert comment, f"SLURM job {job_id}: no snakemake comment in {submit_line!r}"
        jobs.append((comment[1], state, int(cpus)))
    return jobs


def test_demo_through_slurm_profile_equals_local_run(slurm, demo, tmp_path):
    since = datetime.datetime.now() - datetime.timedelta(minutes=1)
    result = snakemake(tmp_path, "--profile", str(PROFILE), cores=None, timeout=1200)
    run_id = re.search(r"SLURM run ID: (\S+)", result.stdout + result.stderr)
    assert run_id, "snakemake did not run through the SLURM executor:\n" + result.stderr[-3000:]

    jobs = slurm_jobs(run_id[1], since)
    assert Counter(name for name, _, _ in jobs) == EXPECTED_SLURM_JOBS, jobs
    assert {state for _, state, _ in jobs} == {"COMPLETED"}, jobs
    # A group's jobs run one after another inside its allocation: it asks for one CPU, not four.
    assert {cpus for _, _, cpus in jobs} == {1}, jobs

    assert_same_products(product_files(demo), product_files(tmp_path))
