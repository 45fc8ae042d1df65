"""The lowest Snakemake that pyproject.toml allows runs the workflow as the newest does.

The job server relies on Snakemake internals (image3/job_server.py, SNAKEMAKE_INTERNALS), so the
floor in pyproject.toml is a claim to test: a venv over this Python's packages gets that release,
and the job server's tests and the small demo (run and rerun) run under it. Skipped, saying so,
when the release cannot be installed (no package index reachable).
"""

import re
import subprocess
import tomllib
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.workflow


def snakemake_floor() -> str:
    """The lowest Snakemake release pyproject.toml allows."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    (spec,) = [d for d in project["dependencies"] if d.startswith("snakemake")]
    return re.search(r">=\s*([0-9.]+)", spec).group(1)


@pytest.fixture(scope="module")
def floor_python(tmp_path_factory):
    """A Python whose Snakemake is the floor release (this Python's other packages)."""
    floor = snakemake_floor()
    env = tmp_path_factory.mktemp("snakemake_floor")
    venv.create(env, system_site_packages=True, with_pip=True)
    python = env / "bin" / "python"
    install = [python, "-m", "pip", "install", "-q", "--disable-pip-version-check", f"snakemake=={floor}"]
    done = subprocess.run(install, capture_output=True, text=True, timeout=600)
    if done.returncode:
        pytest.skip(f"Snakemake {floor} could not be installed (offline?): {done.stderr.strip()[-300:]}")
    version = subprocess.run(
        [python, "-c", "import snakemake; print(snakemake.__version__)"], capture_output=True, text=True
    ).stdout.strip()
    assert [int(v) for v in version.split(".")] == [int(v) for v in f"{floor}.0.0".split(".")[:3]], version
    return python


def test_the_lowest_supported_snakemake_runs_the_workflow(floor_python):
    """The job server's tests and the small demo's run and rerun pass under the floor release."""
    tests = ["tests/test_job_server.py", "tests/test_workflow.py::test_the_job_server_changes_no_product"]
    done = subprocess.run(
        [floor_python, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
