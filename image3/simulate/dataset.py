"""The simulated dataset as a whole: its plan (scene, pointings, sky levels) and truth files.

``plan(settings)`` is deterministic in ``settings['seed']``; each exposure is then rendered on its own
(``render``), so a workflow can simulate exposures in parallel.
"""

import json
from pathlib import Path

import numpy as np
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.table import Table

from ..atomic import atomic_path
from ..jwst_wcs import Distortion
from .demo import exposure_names
from .exposure import DetectorModel, simulate_exposure
from .observation import make_pointings, mosaic_offsets, start_times
from .scene import ab_to_jy, make_scene


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
        cosmic_ray_mix=tuple(sorted((settings.get("cosmic_ray_mix") or {}).items())),
        cosmic_ray_energy_e=tuple(settings.get("cosmic_ray_energy_e", (30.0, 50_000.0))),
    )


def plan(settings):
    """Scene table and per-exposure truth for the ``simulate`` settings.

    Each exposure's truth entry holds its pointings (see ``ExposurePointing.to_dict``), its sky level
    (MJy/sr), its start time (MJD) and ``target``: None, or with ``moving_target`` the moving target's
    true position at mid-exposure (``ra``, ``dec`` in deg) and flux (``flux_jy``). The target moves
    on a great circle at ``target_rate_arcsec_per_hour`` towards ``target_position_angle`` (deg east
    of north), passing the field centre (``ra``, ``dec``) half-way through the observation, and the
    telescope tracks it: every exposure's pointing (dither, pointing error and all) moves with it.
    The scene of static sources grows to cover the whole track, and with ``mosaic`` (see
    ``make_pointings``) the whole mosaic, at the same densities.
    """
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
        settings["mosaic"],
        settings["mosaic_overlap"],
    )
    # a mosaic's tiles reach this far (arcsec) from the field centre beyond the dithers
    mosaic_reach = float(
        np.hypot(
            *mosaic_offsets(settings["mosaic"], settings["mosaic_overlap"], shape, Distortion().pixel_scale).T
        ).max()
    )
    low, high = settings["sky_offset_mjysr"]
    sky = settings["sky_mjysr"] + rng.uniform(low, high, len(names))
    starts = start_times(len(names), settings["exposure_interval_s"])
    targets = [None] * len(names)
    track = 0.0
    if settings["moving_target"]:
        mids = starts + settings["exptime"] / 2 / 86400.0
        travel = settings["target_rate_arcsec_per_hour"] * 24.0 * (mids - mids.mean())  # arcsec
        angle = settings["target_position_angle"]
        pointings = [p.moved_by(angle, d) for p, d in zip(pointings, travel, strict=True)]
        centre = SkyCoord(settings["ra"], settings["dec"], unit="deg")
        flux = float(ab_to_jy(settings["target_mag"]))
        targets = []
        for d in travel:
            c = centre.directional_offset_by(angle * u.deg, d * u.arcsec)
            targets.append({"ra": float(c.ra.deg), "dec": float(c.dec.deg), "flux_jy": flux})
        track = float(np.ptp(travel))
    scene = make_scene(
        rng,
        settings["ra"],
        settings["dec"],
        field * (0.75 + settings["dither_spread"]) + track / 2 + mosaic_reach,
        settings["star_density"],
        settings["galaxy_density"],
        settings["star_mag"],
        settings["galaxy_mag"],
    )
    exposures = [
        {**p.to_dict(), "sky_level": float(s), "start_time": float(t), "target": target}
        for p, s, t, target in zip(pointings, sky, starts, targets, strict=True)
    ]
    return scene, exposures


def write_plan(scene, exposures, scene_path, exposures_path):
    """Write the scene (ECSV) and the per-exposure truth (JSON) atomically."""
    with atomic_path(scene_path) as tmp:
        scene.write(tmp, format="ascii.ecsv", overwrite=True)
    with atomic_path(exposures_path) as tmp:
        Path(tmp).write_text(json.dumps({"exposures": exposures}, indent=2) + "\n")


def read_exposure_truth(path) -> dict:
    """Per-exposure truth entries (see :func:`plan`) keyed by exposure name."""
    return {e["name"]: e for e in json.loads(Path(path).read_text())["exposures"]}


def render(settings, scene_path, exposures_path, name):
    """Render exposure ``name``: its ImageModel and cosmic-ray table."""
    scene = Table.read(scene_path, format="ascii.ecsv")
    truth = read_exposure_truth(exposures_path)
    return simulate_exposure(scene, truth[name], list(truth).index(name), detector_model(settings))
