"""A NIRCam-like imaging simulator that writes official level-2b files and knows the truth.

The truth (injected pointing errors, sky levels, cosmic rays and sources) is what the tests hold the
pipeline against.

Public names are re-exported here and imported on first use (:mod:`image3._lazy`).
"""

from .._lazy import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "dataset": [
            "FocalPlane",
            "detector_model",
            "entry_geometry",
            "pixel_scale",
            "plan",
            "read_exposure_truth",
            "render",
            "truth_wcs",
            "write_plan",
        ],
        "demo": [
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
        ],
        "detector": [
            "DEAD",
            "DEFAULT_MIX",
            "DO_NOT_USE",
            "HOT",
            "JUMP_DET",
            "MORPHOLOGIES",
            "SATURATED",
            "add_noise",
            "bad_pixel_mask",
            "cosmic_rays",
        ],
        "exposure": [
            "ARCSEC2_TO_SR",
            "NON_SCIENCE",
            "REFERENCE_PIXEL",
            "SYNTHETIC_PIXEL_SCALE",
            "DetectorModel",
            "relative_pixel_area",
            "render_sources",
            "simulate_exposure",
        ],
        "instruments": [
            "INSTRUMENTS",
            "DetectorGeometry",
            "Instrument",
            "detector_geometry",
            "instrument",
            "non_science_regions",
            "reference_pixels",
            "reference_point",
        ],
        "observation": ["ExposurePointing", "make_pointings", "mosaic_offsets", "start_times"],
        "psf": ["PixelIntegratedPSF"],
        "reference_files": ["ABVEGA_OFFSETS", "drizzled_stamp", "write_abvegaoffset", "write_apcorr"],
        "scene": ["AB_ZEROPOINT_JY", "ab_to_jy", "galaxy_stamp", "make_scene", "point_source"],
    },
)
