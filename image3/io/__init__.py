"""Reading and writing the workflow's files: associations, level-2b exposures (lean FITS reads and
datamodels), DQ bits, atomic writes and the metadata every product records.

Public names are re-exported here and imported on first use (:mod:`image3._lazy`).
"""

from .._lazy import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "association": ["exposure_name", "load_association", "Product", "write_association"],
        "atomic": ["atomic_path"],
        "dq": ["DQ_FLAGS", "excluded_exposure", "good_pixels", "has_valid_pixels", "with_outliers"],
        "exposure_groups": ["GROUP_KEYS", "exposure_group", "group_id"],
        "fits_read": [
            "HeaderScan",
            "LeanExposure",
            "image_shape",
            "moving_target_position",
            "read_gwcs",
            "read_lean",
            "scan_headers",
            "target_type",
        ],
        "level2b": ["open_level2b", "save_model", "set_fits_wcs"],
        "members": ["PRIMARY_KEYS", "SETUP_KEYS", "check_setup", "scan_members"],
        "product_meta": ["SipSettings", "record_image3_meta"],
    },
)
