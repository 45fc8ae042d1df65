"""The simulated dataset as a whole: its plan (scene, pointings, sky levels) and truth files.

``plan(settings)`` is deterministic in ``settings['seed']``; each exposure is then rendered on its own
(``render``), so a workflow can simulate exposures in parallel.
"""

import json
from pathlib import Path

import numpy as np
from astropy.table import Table

from ..atomic import atomic_path
from ..jwst_wcs import Distortion
from .exposure import DetectorModel, simulate_exposure
from .observation import ExposurePointing, exposure_names, make_pointings
from .scene import make_scene

# Which `simulate` settings each stage uses, so a workflow passes each rule only its own.
PLAN_KEYS = (
    "seed",
    "n_exposures",
    "shape",
    "ra",
    "dec",
    "roll",
    "dither_spread",
    "pointing_shift_arcsec",
    "pointing_roll_deg",
    "sky_mjysr",
    "sky_offset_mjysr",
    "star_density",
    "galaxy_density",
    "star_mag",
    "galaxy_mag",
)
DETECTOR_KEYS = (
    "seed",
    "shape",
    "filter",
    "exptime",
    "electrons_per_mjysr",
    "read_noise_e",
    "flat_error",
    "cosmic_ray_rate",
    "bad_pixel_fraction",
)


def detector_model(settings) -> DetectorModel:
    """Detector settings from the ``simulate`` config section."""
    return DetectorModel(
        shape=tuple(settings["shape"]),
        filter=settings["filter"],
        exptime=settings["exptime"],
        gain=settings["electrons_per_mjysr"],
        read_noise_e=settings["read_noise_e"],
        flat_error=settings["flat_error"],
        cosmic_ray_rate=settings["cosmic_ray_rate"],
        bad_pixel_fraction=settings["bad_pixel_fraction"],
        seed=settings["seed"],
    )


def plan(settings):
    """Scene table and per-exposure truth (pointings, sky levels) for the ``simulate`` settings."""
    rng = np.random.default_rng(settings["seed"])
    shape = tuple(settings["shape"])
    field = Distortion().pixel_scale * max(shape)
    names = exposure_names(settings["n_exposures"])
    pointings = make_pointings(
        rng,
        names,
        shape,
        settings["ra"],
        settings["dec"],
        settings["roll"],
        settings["dither_spread"],
        settings["pointing_shift_arcsec"],
        settings["pointing_roll_deg"],
    )
    low, high = settings["sky_offset_mjysr"]
    sky = settings["sky_mjysr"] + rng.uniform(low, high, len(names))
    scene = make_scene(
        rng,
        settings["ra"],
        settings["dec"],
        field * (0.75 + settings["dither_spread"]),
        settings["star_density"],
        settings["galaxy_density"],
        settings["star_mag"],
        settings["galaxy_mag"],
    )
    exposures = [{**p.to_dict(), "sky_level": float(s)} for p, s in zip(pointings, sky, strict=True)]
    return scene, exposures


def write_plan(scene, exposures, scene_path, exposures_path):
    """Write the scene (ECSV) and the per-exposure truth (JSON) atomically."""
    with atomic_path(scene_path) as tmp:
        scene.write(tmp, format="ascii.ecsv", overwrite=True)
    with atomic_path(exposures_path) as tmp:
        Path(tmp).write_text(json.dumps({"exposures": exposures}, indent=2) + "\n")


def read_exposure_truth(path):
    """Per-exposure truth keyed by exposure name: pointings (ExposurePointing) and sky level."""
    entries = json.loads(Path(path).read_text())["exposures"]
    return {
        e["name"]: {
            "pointing": ExposurePointing.from_dict({k: v for k, v in e.items() if k != "sky_level"}),
            "sky_level": e["sky_level"],
        }
        for e in entries
    }


def render(settings, scene_path, exposures_path, name):
    """Render exposure ``name``: its ImageModel and cosmic-ray table."""
    scene = Table.read(scene_path, format="ascii.ecsv")
    truth = read_exposure_truth(exposures_path)
    index = list(truth).index(name)
    entry = truth[name]
    return simulate_exposure(scene, entry["pointing"], entry["sky_level"], index, detector_model(settings))
