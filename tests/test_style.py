"""The code base stays lint-clean: ruff, snakefmt and snakemake --lint."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    "command",
    [
        ["ruff", "check", "."],
        ["ruff", "format", "--check", "."],
        ["snakefmt", "--check", "."],
    ],
)
def test_linters_are_clean(command):
    if shutil.which(command[0]) is None:
        pytest.fail(f"{command[0]} is not installed (pip install -e '.[test]')")
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_snakemake_lint_is_clean():
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "--lint"], cwd=REPO, capture_output=True, text=True
    )
    assert "Congratulations" in result.stdout + result.stderr, result.stdout + result.stderr


def test_snakemake_lint_is_clean_with_tiles(tmp_path):
    """The rules defined only for tiled runs (merge_tile_catalogs) are linted too."""
    config = tmp_path / "tiles.yaml"
    config.write_text("tiles: {size: 360, margin: 40}\n")
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "--lint", "--configfile", str(config)],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert "Congratulations" in result.stdout + result.stderr, result.stdout + result.stderr
