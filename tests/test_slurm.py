"""The small demo through `--profile profiles/slurm` on a real SLURM cluster (in CI the throw-away
single-node one that .ci/run starts from ../shared/slurm): the jobs go through SLURM, as the profile
bundles them, and the products equal a local run's."""

import datetime
import math
import os
import re
import shutil
import subprocess
from collections import Counter, defaultdict

import pytest
import yaml
from workflow_helpers import REPO, assert_same_products, planned_jobs, product_files, snakemake

pytestmark = pytest.mark.workflow

PROFILE = REPO / "profiles" / "slurm"


def local_rules():
    """The rules the workflow declares ``localrules`` (they run beside Snakemake, never on SLURM)."""
    names = set()
    for path in (REPO / "rules").glob("*.smk"):
        for block in re.findall(r"^localrules:\n((?:[ \t]+\w+,?\n)+)", path.read_text(), flags=re.M):
            names |= set(re.findall(r"\w+", block))
    return names


def expected_slurm_jobs(planned):
    """SLURM job name -> count for a run of ``planned`` (rule -> jobs) with the profile: one SLURM job
    per job but the local rules' (see local_rules), except that the jobs of a group's rules go
    ``group-components`` exposures to a SLURM job, named `<group>_<its rules, sorted>`. For the demo
    today: simulate_plan, simulate_association, exposures_in_simulate_exposure, exposures_out_crf,
    resample_grid, resample, once each."""
    profile = yaml.safe_load((PROFILE / "config.yaml").read_text())
    group_of = dict(entry.split("=") for entry in profile["groups"])
    bundle = {group: int(n) for group, n in (entry.split("=") for entry in profile["group-components"])}
    local = local_rules()
    assert {"relay", "relay_median", "refuse_product"} <= local, local
    expected, grouped = Counter(), defaultdict(dict)
    for rule, count in planned.items():
        if rule in group_of:
            grouped[group_of[rule]][rule] = count
        elif rule != "all" and rule not in local:  # `all` has nothing to run
            expected[rule] = count
    for group, rules in grouped.items():
        exposures = max(rules.values())
        expected["_".join([group, *sorted(rules)])] = math.ceil(exposures / bundle[group])
    return expected


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
    planned = planned_jobs(tmp_path)
    expected = expected_slurm_jobs(planned)
    assert sum(expected.values()) < sum(planned.values()) - planned["all"], "the profile bundles nothing"
    since = datetime.datetime.now() - datetime.timedelta(minutes=1)
    result = snakemake(tmp_path, "--profile", str(PROFILE), cores=None, timeout=1200)
    run_id = re.search(r"SLURM run ID: (\S+)", result.stdout + result.stderr)
    assert run_id, "snakemake did not run through the SLURM executor:\n" + result.stderr[-3000:]

    jobs = slurm_jobs(run_id[1], since)
    assert Counter(name for name, _, _ in jobs) == expected, jobs
    assert {state for _, state, _ in jobs} == {"COMPLETED"}, jobs
    # A group's jobs run one after another inside its allocation: it asks for one CPU, not four.
    assert {cpus for _, _, cpus in jobs} == {1}, jobs

    assert_same_products(product_files(demo), product_files(tmp_path))
