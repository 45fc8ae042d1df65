"""Reading level-2b files with astropy.io.fits alone: arrays and keywords for the per-exposure jobs
(about 0.05 s, where a first ``datamodels.open`` takes 1-2 s and imports stdatamodels and gwcs), and
header-only reads cheap enough for the workflow while it builds the DAG (astropy.io.fits is
imported on first use, not by importing this module)."""

from dataclasses import dataclass, field

import numpy as np

from .errors import InputError

__all__ = ["LeanExposure", "image_shape", "moving_target_position", "read_lean", "target_type"]

# ``meta.observation`` fields that identify an exposure (its group id) and their primary keywords.
OBSERVATION_KEYWORDS = {
    "program_number": "PROGRAM",
    "observation_number": "OBSERVTN",
    "visit_number": "VISIT",
    "visit_group": "VISITGRP",
    "sequence_id": "SEQ_ID",
    "activity_id": "ACT_ID",
    "exposure_number": "EXPOSURE",
}


@dataclass
class LeanExposure:
    """Arrays and keywords of a level-2b file read without the datamodel (see read_lean).

    ``arrays`` maps lower-case extension names (sci, dq, err, var_rnoise, ...) to arrays; ``filter``
    is the FILTER keyword; ``pixel_scale`` the nominal pixel scale in arcsec (from PIXAR_A2);
    ``exptime`` in s; ``sky_level`` the recorded background level (BKGLEVEL, MJy/sr; None when
    absent) and ``sky_subtracted`` whether it was taken off SCI (BKGSUB); ``observation`` the
    ``meta.observation`` fields of ``OBSERVATION_KEYWORDS`` (None when absent); ``shape`` (ny, nx).
    """

    arrays: dict
    filter: str | None
    pixel_scale: float | None
    exptime: float
    sky_level: float | None = None
    sky_subtracted: bool = False
    observation: dict = field(default_factory=dict)
    shape: tuple = ()

    @property
    def subtracted_sky(self) -> float:
        """The level (MJy/sr) already taken off SCI: BKGLEVEL when BKGSUB is true, else 0."""
        return self.sky_level if (self.sky_level is not None and self.sky_subtracted) else 0.0

    @property
    def unsubtracted_sky(self) -> float:
        """A recorded level (MJy/sr) not yet taken off SCI: BKGLEVEL when BKGSUB is false, else 0."""
        return self.sky_level if (self.sky_level is not None and not self.sky_subtracted) else 0.0


def read_lean(path, extensions=("SCI", "DQ")) -> LeanExposure:
    """Read ``extensions`` of a level-2b file with astropy.io.fits alone.

    Raises InputError naming the file when it is not a level-2b image (no 2-D
    SCI in MJy/sr). A missing DQ reads as zeros; other missing extensions are an error. With no
    ``extensions`` only the headers are read.
    """
    from astropy.io import fits

    try:
        with fits.open(path, memmap=False) as hdul:
            if "SCI" not in hdul or hdul["SCI"].header.get("NAXIS") != 2:
                raise InputError(f"{path}: not a level-2b calibrated image: no 2-D SCI extension")
            sci_header = hdul["SCI"].header
            unit = str(sci_header.get("BUNIT", "")).replace(" ", "")
            if unit not in ("MJy/sr", "MJy/str"):
                raise InputError(f"{path}: not a level-2b calibrated image: SCI unit is {unit!r}")
            shape = (int(sci_header["NAXIS2"]), int(sci_header["NAXIS1"]))
            arrays = {}
            for name in extensions:
                if name in hdul:
                    arrays[name.lower()] = hdul[name].data
                elif name == "DQ":
                    arrays["dq"] = np.zeros(shape, np.uint32)
                else:
                    raise InputError(f"{path}: level-2b file has no {name} extension")
            primary = hdul[0].header
            area = sci_header.get("PIXAR_A2")
            level = primary.get("BKGLEVEL")
            return LeanExposure(
                arrays=arrays,
                filter=primary.get("FILTER"),
                pixel_scale=float(np.sqrt(area)) if area else None,
                exptime=float(
                    primary.get("XPOSURE") or sci_header.get("XPOSURE") or primary.get("EFFEXPTM") or 1.0
                ),
                sky_level=float(level) if level is not None else None,
                sky_subtracted=bool(primary.get("BKGSUB", False)),
                observation={k: primary.get(key) for k, key in OBSERVATION_KEYWORDS.items()},
                shape=shape,
            )
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except OSError as err:
        raise InputError(f"{path}: not a FITS file ({err})") from None


def _header(path, ext):
    from astropy.io import fits

    return fits.getheader(path, ext)


def image_shape(path) -> tuple:
    """(ny, nx) of a level-2b file's SCI array, from its header alone."""
    try:
        header = _header(path, "SCI")
    except (OSError, KeyError) as err:
        raise InputError(f"{path}: not a level-2b calibrated image: {err}") from None
    return int(header["NAXIS2"]), int(header["NAXIS1"])


def target_type(path) -> str:
    """``meta.target.type`` (TARGTYPE: FIXED, MOVING or GENERIC, upper case; '' when absent) from the
    primary header alone, parsed here without astropy (about 50 microseconds a file, so the workflow
    can read it for every member of a large association while it builds the DAG)."""
    value = _primary_string(path, "TARGTYPE")
    return (value or "").strip().upper()


def _primary_string(path, keyword) -> str | None:
    """The value of a string ``keyword`` of the primary header (80-character cards in 2880-byte
    blocks, up to END); None when absent. Raises InputError when the file is not FITS."""
    key = keyword.ljust(8).encode()
    try:
        with open(path, "rb") as f:
            block = f.read(2880)
            if not block.startswith(b"SIMPLE  ="):
                raise InputError(f"{path}: not a FITS file (no SIMPLE card)")
            while len(block) == 2880:
                for start in range(0, 2880, 80):
                    card = block[start : start + 80]
                    if card[:8] == key and card[8:10] == b"= ":
                        text = card[10:].decode("ascii", "replace").strip()
                        value = text[1:].split("'", 1)[0] if text.startswith("'") else text.split("/")[0]
                        return value.rstrip()
                    if card[:8] == b"END     ":
                        return None
                block = f.read(2880)
    except OSError as err:
        raise InputError(f"{path}: not a FITS file ({err})") from None
    raise InputError(f"{path}: not a FITS file (the primary header has no END)")


def moving_target_position(path) -> tuple:
    """(``meta.wcsinfo.mt_ra``, ``mt_dec``) in deg: the moving target at mid-exposure (MT_RA, MT_DEC
    in the SCI header). Raises InputError naming the file when they are missing."""
    try:
        header = _header(path, "SCI")
    except (OSError, KeyError) as err:
        raise InputError(f"{path}: not a level-2b calibrated image: {err}") from None
    if header.get("MT_RA") is None or header.get("MT_DEC") is None:
        raise InputError(
            f"{path}: moving-target exposure (TARGTYPE MOVING) without MT_RA/MT_DEC "
            "(meta.wcsinfo.mt_ra/mt_dec) in its SCI header"
        )
    return float(header["MT_RA"]), float(header["MT_DEC"])
