"""A product's members checked from their headers alone, while the workflow loads: every file whole
(not truncated) and all of one instrument set-up (a mosaic of two filters is a silent science error).

A few 2880-byte reads per HDU and no astropy (image3.io.fits_read.scan_headers), so an association of
thousands of members is checked in about a second.
"""

import math
from functools import partial

from ..errors import InputError
from .fits_read import HeaderScan, scan_headers
from .scan_cache import ScanCache

__all__ = [
    "PRIMARY_KEYS",
    "REQUIRED_ARRAYS",
    "SETUP_KEYS",
    "check_setup",
    "check_structure",
    "member_scan_cache",
    "scan_members",
    "structure_problems",
]

# The primary keywords read from every member, and those the members of one product must share.
SETUP_KEYS = ("INSTRUME", "FILTER", "PUPIL")
# DETECTOR, CHANNEL, EXP_TYPE and the start date also select the catalog's CRDS reference files
# (image3.source_catalog.crds_refs).
PRIMARY_KEYS = (*SETUP_KEYS, "TARGTYPE", "DETECTOR", "CHANNEL", "EXP_TYPE", "DATE-OBS", "TIME-OBS")
# PIXAR_A2 and S_REGION (the footprint) also give the grid's size for tiles.size auto (image3.tiles.auto).
SCI_KEYS = ("PIXAR_A2", "S_REGION")
# Pixel scales (sqrt of PIXAR_A2, the nominal pixel area) may differ by this fraction: the detectors
# of one NIRCam channel differ by about 1 %, the short and long channels by a factor 2.
PIXEL_SCALE_TOLERANCE = 0.1


# The arrays every step reads, beside SCI, each of SCI's shape, and who needs it. Neither has a safe
# default: without DQ a file has lost its saturated, dead, hot and jump-flagged (cosmic-ray) pixels,
# which would be drizzled as good; without ERR outlier detection has no noise to test against.
REQUIRED_ARRAYS = {
    "ERR": "outlier detection's thresholds and the catalog's errors",
    "DQ": "every step's pixel flags (saturated, dead, hot, cosmic rays)",
}
# The variances (VAR_POISSON, VAR_RNOISE, VAR_FLAT) may be absent or of another shape, as the
# official steps accept: resample and outlier detection then warn naming the file, weigh its pixels
# 1 (ivm) and leave the mosaic's variances and ERR unknown (NaN) where it contributes
# (image3.resample.drizzle.checked_variance).


def scan_members(name, members, *, cache: ScanCache | None = None) -> dict[str, HeaderScan]:
    """{member path: its HeaderScan} of product ``name``'s member files, checked: InputError naming
    the file when one is truncated or not FITS, or lacks what the steps read (see
    :func:`check_structure`), naming the members and their values when they disagree on the
    instrument set-up (see :func:`check_setup`). ``cache``: scans kept from earlier loads
    (:func:`member_scan_cache`); the caller saves it."""
    scan = (
        cache.scan
        if cache is not None
        else partial(scan_headers, primary_keys=PRIMARY_KEYS, sci_keys=SCI_KEYS)
    )
    scans = {str(m): scan(m) for m in members}
    check_structure(name, scans)
    check_setup(name, scans)
    return scans


def member_scan_cache(path) -> ScanCache:
    """A cache of member scans (the keywords :func:`scan_members` reads) in the file ``path``."""
    return ScanCache(path, (PRIMARY_KEYS, SCI_KEYS))


def structure_problems(scan: HeaderScan) -> list[str]:
    """What a member file lacks of a level-2b image as the steps read it: a 2-D SCI; ERR and DQ of
    SCI's shape; an ASDF extension holding the WCS (a gwcs), and every extension that tree keeps
    an array in (else the datamodel cannot be opened)."""
    sci = scan.shapes.get("SCI")
    if sci is None:
        return ["no SCI extension"]
    if len(sci) != 2:
        return [f"its SCI is {len(sci)}-D, not a 2-D image"]
    problems = []
    for ext, needed_by in REQUIRED_ARRAYS.items():
        shape = scan.shapes.get(ext)
        if shape is None:
            problems.append(f"no {ext} extension ({needed_by} need it)")
        elif shape != sci:
            problems.append(f"its {ext} is {_dims(shape)}, its SCI {_dims(sci)}")
    if scan.asdf_wcs is None:
        problems.append("no ASDF extension (the datamodel's tree with its WCS)")
    elif not scan.asdf_wcs:
        problems.append("no WCS (meta.wcs) in its ASDF tree: run assign_wcs (calwebb_image2) first")
    lost = sorted(scan.asdf_sources - set(scan.shapes) - set(REQUIRED_ARRAYS))
    if lost:
        problems.append(f"its ASDF tree keeps arrays in extension(s) {', '.join(lost)}, which it lacks")
    return problems


def _dims(shape) -> str:
    return " x ".join(map(str, shape[::-1])) if shape else "empty"


def check_structure(name, scans: dict[str, HeaderScan]) -> None:
    """Every member of product ``name`` is a level-2b image as the steps read it (see
    :func:`structure_problems`); else an InputError listing each bad member and what it lacks."""
    bad = {path: p for path, s in scans.items() if (p := structure_problems(s))}
    if bad:
        listing = "\n".join(f"  {path}: {'; '.join(p)}" for path, p in bad.items())
        raise InputError(f"product {name}: not a level-2b calibrated image as the steps read it:\n{listing}")


def _shown(value) -> str:
    return "(absent)" if value is None else str(value).strip()


def check_setup(name, scans: dict[str, HeaderScan]) -> None:
    """The images of product ``name`` (members with a 2-D SCI) must agree on INSTRUME, FILTER and
    PUPIL, and their pixel scales within ``PIXEL_SCALE_TOLERANCE``; else an InputError listing each
    member's value."""
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
