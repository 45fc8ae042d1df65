"""What the workflow needs of the demo when it loads: file names and the settings each rule uses.

File names follow the official scheme, so they are a function of the config alone and the workflow
knows every exposure before the simulator has run. Imports nothing heavy: the Snakefile reads it
while building the DAG.
"""

PROGRAM = "01234"
ASN_ID = "o001"
START_MJD = 61368.0  # 2026-11-24T00:00:00 UTC, the first exposure's start


def exposure_names(n_exposures: int) -> list[str]:
    """Official-style exposure names ``jw01234001001_03101_0000k_nrca1``, k = 1..n."""
    return [f"jw{PROGRAM}001001_03101_{k:05d}_nrca1" for k in range(1, n_exposures + 1)]


def product_name(filter_name: str) -> str:
    """The image3 product name for the demo's filter."""
    return f"jw{PROGRAM}-{ASN_ID}_t001_nircam_clear-{filter_name.lower()}"


def association_name() -> str:
    """The demo association's file name."""
    return f"jw{PROGRAM}-{ASN_ID}_20261124t000000_image3_00001_asn.json"


def reference_files() -> dict:
    """The demo's APCORR and ABVEGAOFFSET reference files, relative to the demo folder."""
    return {
        "apcorr": "reference/image3sim_nircam_apcorr.fits",
        "abvegaoffset": "reference/image3sim_nircam_abvegaoffset.asdf",
    }


# Which `simulate` settings each stage uses, so a workflow passes each rule only its own.
PLAN_KEYS = (
    "seed",
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
)
