"""The simulated dataset as a whole: its plan (scene, pointings, sky levels) and truth files.

``plan(settings)`` is deterministic in ``settings['seed']``; each exposure is then rendered on its own
(``render``), so a workflow can simulate exposures in parallel.
"""

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.table import Table, vstack

from ..errors import InputError
from ..io.atomic import atomic_path
from ..wcs.jwst_wcs import Distortion, Pointing, imaging_wcs
from .artefacts import ArtefactSettings, artefact_sources
from .demo import detectors, exposure_ids, exposure_names
from .exposure import DetectorModel, simulate_exposure
from .observation import ExposurePointing, make_pointings, mosaic_offsets, start_times
from .scene import ab_to_jy, make_scene

__all__ = [
    "FocalPlane",
    "detector_model",
    "entry_geometry",
    "pixel_scale",
    "plan",
    "read_exposure_truth",
    "render",
    "truth_wcs",
    "write_artefact_truth",
    "write_plan",
]


def detector_model(settings) -> DetectorModel:
    """Detector settings from the ``simulate`` config section."""
    return DetectorModel(
        shape=tuple(settings["shape"] or ()),
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
        instrument=settings.get("instrument", "nircam_sw"),
        artefacts=ArtefactSettings.from_settings(settings),
    )


@dataclass(frozen=True)
class FocalPlane:
    """What the plan needs of the focal plane: the chip the pointings are made for (``shape``,
    ``distortion``, ``aperture``: its V2/V3 reference, V3 angle and parity), the scene's half width
    beyond the dithers (``half_field``, arcsec) and, with real detectors, their names and geometries
    (``instruments.DetectorGeometry``); ``detectors`` None is the synthetic detector."""

    shape: tuple
    distortion: Distortion
    aperture: Pointing
    half_field: float
    detectors: tuple | None = None
    geometries: tuple = ()

    @property
    def chip_arcsec(self):
        """One chip's size (arcsec), the unit of ``dither_spread``."""
        return self.distortion.pixel_scale * max(self.shape)


def _focal_plane(settings) -> FocalPlane:
    """The focal plane of the ``simulate`` settings: the synthetic detector of ``shape`` (the demo
    as it always was), or the instrument's ``detectors`` from the SIAF with the pointings made for a
    distortion-free chip of one detector's size at the middle of their reference points."""
    names = detectors(settings)
    if names is None:
        shape, distortion = tuple(settings["shape"]), Distortion()
        return FocalPlane(
            shape, distortion, Pointing(0.0, 0.0, 0.0), 0.75 * distortion.pixel_scale * max(shape)
        )
    from .instruments import detector_geometry, reference_point

    if settings["mosaic"] is not None:
        raise InputError("simulate.mosaic: only for the synthetic detector (simulate.detectors null)")
    key = settings["instrument"]
    v2, v3 = reference_point(key, names)
    towards = (v2, v3) if len(names) > 1 else None
    geometries = tuple(detector_geometry(key, d, settings["shape"], towards) for d in names)
    first = geometries[0]
    angle = float(np.mean([g.v3yangle for g in geometries]))
    return FocalPlane(
        shape=first.shape,
        distortion=Distortion(pixel_scale=first.distortion.pixel_scale, coeffs_x=(), coeffs_y=()),
        aperture=Pointing(0.0, 0.0, 0.0, v2_ref=v2, v3_ref=v3, v3yangle=angle, vparity=first.vparity),
        half_field=1.05 * max(_reach(g, v2, v3) for g in geometries),
        detectors=tuple(names),
        geometries=geometries,
    )


def pixel_scale(settings) -> float:
    """The nominal pixel scale (arcsec) of the demo's detectors (the first one's)."""
    return _focal_plane(settings).distortion.pixel_scale


def _reach(geometry, v2, v3):
    """Farthest V2/V3 distance (arcsec) of a detector's kept pixels' corners from (v2, v3)."""
    ny, nx = geometry.shape
    pointing = Pointing(0.0, 0.0, 0.0, geometry.v2_ref, geometry.v3_ref, geometry.v3yangle, geometry.vparity)
    to_v2v3 = imaging_wcs(geometry.shape, pointing, geometry.distortion).get_transform("detector", "v2v3")
    cv2, cv3 = to_v2v3(np.array([-0.5, nx - 0.5, nx - 0.5, -0.5]), np.array([-0.5, -0.5, ny - 0.5, ny - 0.5]))
    return float(np.hypot(cv2 - v2, cv3 - v3).max())


def plan(settings):
    """Scene table and per-exposure truth for the ``simulate`` settings.

    Each exposure's truth entry holds its pointings (see ``ExposurePointing.to_dict``), its sky level
    (MJy/sr), its start time (MJD) and ``target``: None, or with ``moving_target`` the moving target's
    true position at mid-exposure (``ra``, ``dec`` in deg) and flux (``flux_jy``). The target moves
    on a great circle at ``target_rate_arcsec_per_hour`` towards ``target_position_angle`` (deg east
    of north), passing the field centre (``ra``, ``dec``) half-way through the observation, and the
    telescope tracks it: every exposure's pointing (dither, pointing error and all) moves with it.
    The scene of static sources grows to cover the whole track, and with ``mosaic`` (see
    ``make_pointings``) the whole mosaic, at the same densities. With real detectors
    (``simulate.detectors``, :func:`_focal_plane`) there is one entry per file instead, named
    ``<exposure>_<detector>`` (see :func:`_detector_entries`).
    """
    rng = np.random.default_rng(settings["seed"])
    focal = _focal_plane(settings)
    shape = focal.shape
    visits = settings.get("visits", 1)
    if focal.detectors is None:
        names = exposure_names(settings["n_exposures"], visits=visits)
    else:
        names = exposure_ids(settings["n_exposures"], visits)
    # each visit its own dither pattern at its own roll, the visits visit_roll_step_deg apart
    per_visit = len(names) // visits
    pointings = []
    for v in range(visits):
        pointings += make_pointings(
            rng,
            names[v * per_visit : (v + 1) * per_visit],
            shape,
            settings["ra"],
            settings["dec"],
            settings["roll"] + v * settings.get("visit_roll_step_deg", 0.0),
            settings["dither_spread"],
            settings["pointing_shift_arcsec"],
            settings["pointing_roll_deg"],
            settings["mosaic"],
            settings["mosaic_overlap"],
            aperture=focal.aperture,
            distortion=focal.distortion,
        )
    # a mosaic's tiles reach this far (arcsec) from the field centre beyond the dithers
    mosaic_reach = float(
        np.hypot(
            *mosaic_offsets(
                settings["mosaic"], settings["mosaic_overlap"], shape, focal.distortion.pixel_scale
            ).T
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
        focal.half_field + focal.chip_arcsec * settings["dither_spread"] + track / 2 + mosaic_reach,
        settings["star_density"],
        settings["galaxy_density"],
        settings["star_mag"],
        settings["galaxy_mag"],
    )
    scene = vstack([scene, artefact_sources(settings, 0.3 * focal.chip_arcsec, len(scene))])
    exposures = [
        {
            **p.to_dict(),
            "sky_level": float(s),
            "start_time": float(t),
            "target": target,
            "visit": k // per_visit + 1,
            "exposure_number": k % per_visit + 1,
        }
        for k, (p, s, t, target) in enumerate(zip(pointings, sky, starts, targets, strict=True))
    ]
    if focal.detectors is not None:
        exposures = _detector_entries(rng, exposures, focal, settings)
    return scene, exposures


def _detector_entries(rng, exposures, focal: FocalPlane, settings):
    """One truth entry per file: each exposure's pointing seen from each detector (all share the
    exposure's pointing and its error), the exposure's sky plus the detector's own offset (drawn
    from ``sky_detector_offset_mjysr``), and where the detector's kept pixels lie."""
    low, high = settings["sky_detector_offset_mjysr"]
    entries = []
    for exposure in exposures:
        pointing = ExposurePointing.from_dict(exposure)
        for d, g in zip(focal.detectors, focal.geometries, strict=True):
            entries.append(
                {
                    **exposure,
                    **pointing.on_detector(f"{exposure['name']}_{d.lower()}", g).to_dict(),
                    "exposure": exposure["name"],
                    "instrument": settings["instrument"],
                    "detector": d,
                    "start": list(g.start),
                    "shape": list(g.shape),
                    "sky_level": exposure["sky_level"] + float(rng.uniform(low, high)),
                }
            )
    return entries


def write_plan(scene, exposures, scene_path, exposures_path):
    """Write the scene (ECSV) and the per-exposure truth (JSON) atomically."""
    with atomic_path(scene_path) as tmp:
        scene.write(tmp, format="ascii.ecsv", overwrite=True)
    with atomic_path(exposures_path) as tmp:
        Path(tmp).write_text(json.dumps({"exposures": exposures}, indent=2) + "\n")


def write_artefact_truth(artefacts, path):
    """Write an exposure's artefacts' truth (``exposure.simulate_exposure``) as FITS, atomically:
    an image extension per entry (SATURATED as uint8, the rest float32 in MJy/sr; ONE_OVER_F is
    (rows, amplifiers)), and the primary header's ARTEFACT listing them."""
    from astropy.io import fits

    primary = fits.PrimaryHDU()
    primary.header["ARTEFACT"] = (" ".join(sorted(artefacts)), "truth images in this file")
    hdus = [primary]
    for key, image in sorted(artefacts.items()):
        data = image.astype(np.uint8) if image.dtype == bool else image.astype(np.float32)
        hdus.append(fits.ImageHDU(data, name=key.upper()))
        hdus[-1].header["BUNIT"] = "" if image.dtype == bool else "MJy/sr"
    with atomic_path(path) as tmp:
        fits.HDUList(hdus).writeto(tmp, overwrite=True)


def read_exposure_truth(path) -> dict:
    """Per-exposure truth entries (see :func:`plan`) keyed by exposure name."""
    return {e["name"]: e for e in json.loads(Path(path).read_text())["exposures"]}


def entry_geometry(entry):
    """The ``instruments.DetectorGeometry`` of a truth entry of a real detector; None for the
    synthetic one."""
    if "detector" not in entry:
        return None
    from .instruments import detector_geometry

    return detector_geometry(entry["instrument"], entry["detector"], entry["shape"], start=entry["start"])


def truth_wcs(entry, which="true", shape=None):
    """The gwcs of a truth entry's file: its ``true`` pointing (the sky the pixels saw) or its
    ``nominal`` one (the file's WCS); ``shape`` (ny, nx) only for the synthetic detector."""
    geometry = entry_geometry(entry)
    pointing = getattr(ExposurePointing.from_dict(entry), which)
    if geometry is None:
        return imaging_wcs(tuple(shape), pointing)
    return imaging_wcs(geometry.shape, pointing, geometry.distortion)


def render(settings, scene_path, exposures_path, name):
    """Render exposure ``name``: its ImageModel, cosmic-ray table and artefacts' truth
    (``exposure.simulate_exposure``)."""
    scene = Table.read(scene_path, format="ascii.ecsv")
    truth = read_exposure_truth(exposures_path)
    entry = truth[name]
    return simulate_exposure(
        scene, entry, list(truth).index(name), detector_model(settings), entry_geometry(entry)
    )
