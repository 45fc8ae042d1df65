"""A product's members checked from their headers alone, while the workflow loads: every file whole
(not truncated) and all of one instrument set-up (a mosaic of two filters is a silent science error).

A few 2880-byte reads per HDU and no astropy (image3.io.fits_read.scan_headers), so an association of
thousands of members is checked in about a second.
"""

import math

from ..errors import InputError
from .fits_read import HeaderScan, scan_headers

__all__ = ["PRIMARY_KEYS", "SETUP_KEYS", "check_setup", "scan_members"]

# The primary keywords read from every member, and those the members of one product must share.
SETUP_KEYS = ("INSTRUME", "FILTER", "PUPIL")
PRIMARY_KEYS = (*SETUP_KEYS, "TARGTYPE")
SCI_KEYS = ("PIXAR_A2",)
# Pixel scales (sqrt of PIXAR_A2, the nominal pixel area) may differ by this fraction: the detectors
# of one NIRCam channel differ by about 1 %, the short and long channels by a factor 2.
PIXEL_SCALE_TOLERANCE = 0.1


def scan_members(name, members) -> dict[str, HeaderScan]:
    """{member path: its HeaderScan} of product ``name``'s member files, checked: InputError naming
    the file when one is truncated or not FITS, naming the members and their values when they
    disagree on the instrument set-up (see :func:`check_setup`)."""
    scans = {str(m): scan_headers(m, PRIMARY_KEYS, SCI_KEYS) for m in members}
    check_setup(name, scans)
    return scans


def _shown(value) -> str:
    return "(absent)" if value is None else str(value).strip()


def check_setup(name, scans: dict[str, HeaderScan]) -> None:
    """The images of product ``name`` (members with a 2-D SCI; others are refused by the first job
    that reads them) must agree on INSTRUME, FILTER and PUPIL, and their pixel scales within
    ``PIXEL_SCALE_TOLERANCE``; else an InputError listing each member's value."""
    images = {path: s for path, s in scans.items() if s.sci_ndim == 2}
    for key in SETUP_KEYS:
        values = {path: s.primary.get(key) for path, s in images.items()}
        if len({_shown(v).upper() for v in values.values()}) > 1:
            listing = "\n".join(f"  {path}: {key} = {_shown(v)}" for path, v in values.items())
            raise InputError(
                f"product {name}: its members disagree on {key} (one product is one instrument "
                f"set-up; split them into products of their own):\n{listing}"
            )
    scales = {}
    for path, s in images.items():
        area = s.sci.get("PIXAR_A2")
        if isinstance(area, (int, float)) and area > 0:
            scales[path] = math.sqrt(area)
    if scales and max(scales.values()) > (1 + PIXEL_SCALE_TOLERANCE) * min(scales.values()):
        listing = "\n".join(f"  {path}: {scale:.4f} arcsec (PIXAR_A2)" for path, scale in scales.items())
        raise InputError(
            f"product {name}: its members' pixel scales differ by more than "
            f"{PIXEL_SCALE_TOLERANCE:.0%} (different detector set-ups in one product):\n{listing}"
        )
