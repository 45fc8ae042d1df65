"""What the workflow needs of the demo when it loads: file names and the settings each rule uses.

File names follow the official scheme, so they are a function of the config alone and the workflow
knows every exposure before the simulator has run. Imports nothing heavy: the Snakefile reads it
while building the DAG.
"""

__all__ = [
    "ASN_ID",
    "DETECTOR_KEYS",
    "DETECTORS",
    "FILTERS",
    "PLAN_KEYS",
    "PROGRAM",
    "START_MJD",
    "association_name",
    "check_settings",
    "detectors",
    "exposure_ids",
    "exposure_names",
    "product_name",
    "pupil",
    "reference_file_names",
]

PROGRAM = "01234"
ASN_ID = "o001"
START_MJD = 61368.0  # 2026-11-24T00:00:00 UTC, the first exposure's start


# The detectors a mode simulates when ``simulate.detectors`` is null; None is the synthetic
# NIRCam-like detector (a mild made-up distortion, not the SIAF's: the demo as it always was).
DEFAULT_DETECTORS = {"nircam_sw": None, "nircam_lw": ("NRCALONG", "NRCBLONG"), "miri": ("MIRIMAGE",)}


# The detectors of each mode (simulate.detectors).
DETECTORS = {
    "nircam_sw": tuple(f"NRC{m}{k}" for m in "AB" for k in range(1, 5)),
    "nircam_lw": ("NRCALONG", "NRCBLONG"),
    "miri": ("MIRIMAGE",),
}
# The filters each mode takes (its PSF width follows from the pivot wavelength, image3.utils.psf_width).
FILTERS = {
    "nircam_sw": (
        "F070W",
        "F090W",
        "F115W",
        "F140M",
        "F150W",
        "F162M",
        "F182M",
        "F187N",
        "F200W",
        "F210M",
        "F212N",
    ),
    "nircam_lw": ("F250M", "F277W", "F300M", "F335M", "F356W", "F360M", "F410M", "F444W", "F460M", "F480M"),
    "miri": ("F560W", "F770W", "F1000W", "F1130W", "F1280W", "F1500W", "F1800W", "F2100W", "F2550W"),
}


def check_settings(settings):
    """Raise InputError naming the key when the ``simulate`` settings' filter or detectors are not
    the instrument's (the synthetic detector needs a ``shape``)."""
    from ..errors import InputError

    mode = settings.get("instrument", "nircam_sw")
    if settings["filter"].upper() not in FILTERS[mode]:
        raise InputError(
            f"simulate.filter = {settings['filter']!r} is not a {mode} filter "
            f"(choose from {', '.join(FILTERS[mode])})"
        )
    foreign = [d for d in detectors(settings) or () if d not in DETECTORS[mode]]
    if foreign:
        raise InputError(
            f"simulate.detectors: {', '.join(foreign)} not {mode} detector(s) "
            f"(choose from {', '.join(DETECTORS[mode])})"
        )
    if detectors(settings) is None and not settings.get("shape"):
        raise InputError("simulate.shape: the synthetic detector (simulate.detectors null) needs a shape")


def detectors(settings) -> list[str] | None:
    """The detectors of each exposure from the ``simulate`` settings (``instrument``,
    ``detectors``); None: the synthetic detector."""
    chosen = settings.get("detectors") or DEFAULT_DETECTORS[settings.get("instrument", "nircam_sw")]
    return None if chosen is None else [d.upper() for d in chosen]


def pupil(settings) -> str:
    """The PUPIL of the demo's files: CLEAR on NIRCam; MIRI has none (the reference files then
    name N/A)."""
    return "N/A" if settings.get("instrument") == "miri" else "CLEAR"


def exposure_ids(n_exposures: int, visits: int = 1) -> list[str]:
    """Official-style exposure ids (the group id) ``jw01234001<vvv>_03101_0000k``: the exposures
    split evenly into ``visits`` consecutive visits v = 1.., numbered k = 1.. within each."""
    if n_exposures % visits:
        from ..errors import InputError

        raise InputError(f"simulate.visits: {visits} visits do not split n_exposures = {n_exposures} evenly")
    per_visit = n_exposures // visits
    return [
        f"jw{PROGRAM}001{v:03d}_03101_{k:05d}" for v in range(1, visits + 1) for k in range(1, per_visit + 1)
    ]


def exposure_names(n_exposures: int, detectors=None, visits: int = 1) -> list[str]:
    """Official-style file names of the exposures, exposure by exposure and within one detector by
    detector: ``<exposure id>_<detector>`` (:func:`exposure_ids`); ``detectors`` None: the
    synthetic detector, named ``nrca1``."""
    return [f"{e}_{d.lower()}" for e in exposure_ids(n_exposures, visits) for d in (detectors or ["NRCA1"])]


def product_name(filter_name: str, instrument: str = "nircam_sw") -> str:
    """The image3 product name for the demo's filter (``instrument``: ``simulate.instrument``)."""
    if instrument == "miri":
        return f"jw{PROGRAM}-{ASN_ID}_t001_miri_{filter_name.lower()}"
    return f"jw{PROGRAM}-{ASN_ID}_t001_nircam_clear-{filter_name.lower()}"


def association_name() -> str:
    """The demo association's file name."""
    return f"jw{PROGRAM}-{ASN_ID}_20261124t000000_image3_00001_asn.json"


def reference_file_names() -> dict:
    """The demo's APCORR and ABVEGAOFFSET reference files, relative to the demo folder."""
    return {
        "apcorr": "reference/image3sim_nircam_apcorr.fits",
        "abvegaoffset": "reference/image3sim_nircam_abvegaoffset.asdf",
    }


# Which `simulate` settings each stage uses, so a workflow passes each rule only its own.
PLAN_KEYS = (
    "seed",
    "instrument",
    "detectors",
    "visits",
    "visit_roll_step_deg",
    "artefacts",
    "bright_star_count",
    "bright_star_mag",
    "large_galaxy_mag",
    "large_galaxy_r_eff",
    "sky_detector_offset_mjysr",
    "n_exposures",
    "shape",
    "ra",
    "dec",
    "roll",
    "dither_spread",
    "mosaic",
    "mosaic_overlap",
    "pointing_shift_arcsec",
    "pointing_roll_deg",
    "sky_mjysr",
    "sky_offset_mjysr",
    "star_density",
    "galaxy_density",
    "star_mag",
    "galaxy_mag",
    "exptime",
    "exposure_interval_s",
    "moving_target",
    "target_rate_arcsec_per_hour",
    "target_position_angle",
    "target_mag",
)
DETECTOR_KEYS = (
    "seed",
    "instrument",
    "shape",
    "filter",
    "exptime",
    "electrons_per_mjysr",
    "read_noise_e",
    "flat_error",
    "cosmic_ray_rate",
    "cosmic_ray_mix",
    "cosmic_ray_energy_e",
    "bad_pixel_fraction",
    "artefacts",
    "full_well_e",
    "spike_fraction",
    "one_over_f_rms",
    "gradient",
    "wisp",
)
