"""Shared fixtures: small simulated datasets (in memory) and the small demo run by the workflow, built
once per test session."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import simdata  # noqa: E402
from workflow_helpers import MOVING, TILED, copy_workdir, snakemake  # noqa: E402


@pytest.fixture(scope="session")
def aligned_f150w():
    """6 exposures of 512^2, F150W, no pointing errors and no cosmic rays (for flux/astrometry)."""
    sim = simdata.settings(
        shape=[512, 512],
        filter="F150W",
        pointing_shift_arcsec=[0.0, 0.0],
        pointing_roll_deg=0.0,
        cosmic_ray_rate=0.0,
        star_density=800,
    )
    return sim, *simdata.simulate(sim)


@pytest.fixture(scope="session")
def default_small():
    """6 exposures of 384^2 with the default config (pointing errors, cosmic rays, bad pixels)."""
    sim = simdata.settings(shape=[384, 384])
    return sim, *simdata.simulate(sim)


@pytest.fixture(scope="session")
def demo(tmp_path_factory):
    """A work directory where the small demo (workflow_helpers.SMALL) ran end to end, locally."""
    workdir = tmp_path_factory.mktemp("demo")
    snakemake(workdir)
    return workdir


@pytest.fixture(scope="session")
def moving_demo(tmp_path_factory):
    """A work directory where the small moving-target demo (workflow_helpers.MOVING) ran."""
    workdir = tmp_path_factory.mktemp("moving_demo")
    snakemake(workdir, config=MOVING)
    return workdir


@pytest.fixture(scope="session")
def tiled_demo(demo, tmp_path_factory):
    """A copy of the demo's work directory where the tiled demo (workflow_helpers.TILED) then ran: only
    the tile jobs run, and the demo's untiled mosaic and catalog stay beside the tiles for comparison."""
    workdir = copy_workdir(demo, tmp_path_factory.mktemp("tiled_demo") / "work")
    snakemake(workdir, config=TILED)
    return workdir
