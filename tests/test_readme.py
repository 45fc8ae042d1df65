"""The README's first command, as a new user runs it: in a fresh virtual environment (no system site
packages, nothing installed but what the README's install brings) on a copy of the repository's
files, the demo runs end to end, and then the README's report command makes the report.

It installs the package's dependencies from PyPI (or pip's cache): a few minutes at most.
"""

import os
import re
import shutil
import subprocess
import sys
import venv

import pytest
from workflow_helpers import REPO

from image3.simulate import demo as demo_names

pytestmark = pytest.mark.workflow

README = (REPO / "README.md").read_text()


def readme_demo_command():
    """The shell command in the first code block after "**Run the demo**"."""
    after = README.split("**Run the demo**", 1)[1]
    return re.search(r"```bash\n(.+?)\n```", after, flags=re.S).group(1).strip()


def readme_report_command():
    return re.search(r"`(snakemake --report [^`]+)`", README).group(1)


def repository_copy(dst):
    """The repository's tracked files (as a clean clone has them, with the working tree's edits)."""
    listed = subprocess.run(
        ["git", "-C", str(REPO), "ls-files", "-z"], capture_output=True, text=True, check=True
    ).stdout
    for name in filter(None, listed.split("\0")):
        if (REPO / name).is_file():
            (dst / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, dst / name)
    return dst


def run_in_venv(command, cwd, venv_dir):
    """``command`` in bash with the venv's bin first on PATH (as after ``source bin/activate``)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env.update(VIRTUAL_ENV=str(venv_dir), PATH=f"{venv_dir / 'bin'}{os.pathsep}{env['PATH']}")
    return subprocess.run(
        ["bash", "-c", command],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=1800,
    )


def test_readme_demo_and_report_in_a_fresh_venv(tmp_path):
    demo = readme_demo_command()
    assert demo.startswith("python -m pip install -e . && snakemake"), demo
    repo = repository_copy(tmp_path / "repo")
    venv_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True, system_site_packages=False).create(venv_dir)
    assert (venv_dir / "bin" / "python").exists() and sys.prefix != str(venv_dir)

    ran = run_in_venv(demo, repo, venv_dir)
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-5000:]
    product = repo / "results" / demo_names.product_name("F150W")
    assert (product / f"{product.name}_i2d.fits").is_file()
    assert (product / f"{product.name}_cat.ecsv").is_file()
    assert len(list(product.glob("*_crf.fits"))) == 6
    # Only the README's install: the test extras are absent.
    probe = run_in_venv("python -c 'import pytest'", repo, venv_dir)
    assert probe.returncode != 0

    report = run_in_venv(readme_report_command(), repo, venv_dir)
    assert report.returncode == 0, report.stdout[-3000:] + report.stderr[-5000:]
    html = (repo / "report.html").read_text(errors="replace")
    figures = [f"{product.name}_{qa}.png" for qa in ("i2d", "tweakreg", "skymatch", "outliers", "cat")]
    assert [f for f in figures if f not in html] == []
