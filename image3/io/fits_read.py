"""Reading level-2b files with astropy.io.fits alone: arrays and keywords for the per-exposure jobs
(about 0.05 s, where a first ``datamodels.open`` takes 1-2 s and imports stdatamodels and gwcs), and
header-only reads cheap enough for the workflow while it builds the DAG (astropy.io.fits is
imported on first use, not by importing this module)."""

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..utils.psf_width import nominal_pixel_scale
from ._asdf import unvalidated

__all__ = [
    "HeaderScan",
    "LeanExposure",
    "image_shape",
    "moving_target_position",
    "read_gwcs",
    "read_lean",
    "scan_headers",
    "target_type",
]

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

# ``meta.wcsinfo`` reference angles (tweakreg's corrections are about them) and their SCI keywords.
REFERENCE_ANGLE_KEYWORDS = {"v2_ref": "V2_REF", "v3_ref": "V3_REF", "roll_ref": "ROLL_REF"}


@dataclass
class LeanExposure:
    """Arrays and keywords of a level-2b file read without the datamodel (see read_lean).

    ``arrays`` maps lower-case extension names (sci, dq, err, var_rnoise, ...) to arrays; ``filter`` is
    the FILTER keyword; ``pixel_scale`` the nominal pixel scale in arcsec (from PIXAR_A2, else the
    DETECTOR's nominal one, else None); ``exptime`` in s; ``tmeasure`` the measurement time (TMEASURE,
    s; None when absent); ``sky_level`` the recorded background level (BKGLEVEL, MJy/sr; None when
    absent) and ``sky_subtracted`` whether it was taken off SCI (BKGSUB); ``observation`` the
    ``meta.observation`` fields of ``OBSERVATION_KEYWORDS`` (None when absent); ``shape`` (ny, nx);
    ``reference_angles`` the ``meta.wcsinfo`` fields of ``REFERENCE_ANGLE_KEYWORDS`` (V2/V3 in arcsec,
    roll in deg; None when absent); ``mid_time`` the mid-exposure MJD (EXPMID).
    """

    arrays: dict
    filter: str | None
    pixel_scale: float | None
    exptime: float
    tmeasure: float | None = None
    sky_level: float | None = None
    sky_subtracted: bool = False
    observation: dict = field(default_factory=dict)
    shape: tuple = ()
    reference_angles: dict = field(default_factory=dict)
    mid_time: float | None = None

    @property
    def subtracted_sky(self) -> float:
        """The level (MJy/sr) already taken off SCI: BKGLEVEL when BKGSUB is true, else 0."""
        return self.sky_level if (self.sky_level is not None and self.sky_subtracted) else 0.0

    def remaining_sky(self, level) -> float:
        """The part of a sky ``level`` (MJy/sr, e.g. skymatch's for this exposure) still in SCI:
        ``level`` less what was already subtracted."""
        return level - self.subtracted_sky

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
            tmeasure = primary.get("TMEASURE")
            return LeanExposure(
                arrays=arrays,
                filter=primary.get("FILTER"),
                pixel_scale=float(np.sqrt(area)) if area else nominal_pixel_scale(primary.get("DETECTOR")),
                exptime=float(
                    primary.get("XPOSURE") or sci_header.get("XPOSURE") or primary.get("EFFEXPTM") or 1.0
                ),
                tmeasure=float(tmeasure) if tmeasure is not None else None,
                sky_level=float(level) if level is not None else None,
                sky_subtracted=bool(primary.get("BKGSUB", False)),
                observation={k: primary.get(key) for k, key in OBSERVATION_KEYWORDS.items()},
                shape=shape,
                reference_angles={k: sci_header.get(key) for k, key in REFERENCE_ANGLE_KEYWORDS.items()},
                mid_time=primary.get("EXPMID"),
            )
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except OSError as err:
        raise InputError(f"{path}: not a FITS file ({err})") from None
    except ValueError as err:  # astropy on an array cut short ("cannot reshape array ...")
        raise _corrupt(path, f"an array cannot be read ({err})") from None


def read_gwcs(path):
    """The gwcs (``meta.wcs``) of a level-2b file, without the datamodel: the ASDF extension's tree
    is read lazily and only that node converted (no schema validation of the rest). Raises
    InputError naming the file when it has none."""
    import io

    import asdf
    from astropy.io import fits

    with fits.open(path, memmap=False) as hdul:
        raw = hdul["ASDF"].data.tobytes() if "ASDF" in hdul else b""
    wcs = None
    if raw:
        try:
            with (
                unvalidated(),
                asdf.open(io.BytesIO(raw), lazy_tree=True, lazy_load=False, memmap=False) as af,
            ):
                wcs = af.tree.get("meta", {}).get("wcs")
        except Exception as err:  # asdf raises many types for a tree it cannot read
            raise _corrupt(path, f"its ASDF extension cannot be read ({type(err).__name__}: {err})") from None
    if wcs is None:
        raise InputError(
            f"{path}: not a level-2b calibrated image: it has no WCS (meta.wcs); "
            "run assign_wcs (calwebb_image2) first"
        )
    return wcs


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


def moving_target_position(path) -> tuple | None:
    """(``meta.wcsinfo.mt_ra``, ``mt_dec``) in deg: the moving target at mid-exposure (MT_RA, MT_DEC
    in the SCI header), or None when the header lacks them."""
    try:
        header = _header(path, "SCI")
    except (OSError, KeyError) as err:
        raise InputError(f"{path}: not a level-2b calibrated image: {err}") from None
    if header.get("MT_RA") is None or header.get("MT_DEC") is None:
        return None
    return float(header["MT_RA"]), float(header["MT_DEC"])


@dataclass
class HeaderScan:
    """What :func:`scan_headers` read of a FITS file: every HDU's name and the asked-for keywords of
    its primary header (``primary``) and of its first ``SCI`` extension (``sci``; empty when none).
    ``sci_ndim`` is the SCI array's number of axes (0 when there is no SCI extension); ``shapes``
    each named extension's array shape (numpy order: rows first; the first of a name);
    ``asdf_sources`` the extensions the ASDF tree stores its arrays in (``"DQ"`` for
    ``source: fits:DQ,1``) and ``asdf_wcs`` whether that tree holds a gwcs (None: no ASDF
    extension)."""

    hdus: list
    primary: dict
    sci: dict
    sci_ndim: int = 0
    shapes: dict = field(default_factory=dict)
    asdf_sources: set = field(default_factory=set)
    asdf_wcs: bool | None = None


_STRUCTURE_KEYS = {"BITPIX", "NAXIS", "PCOUNT", "GCOUNT", "EXTNAME"}


def _card_value(text: str):
    """A FITS card's value field (after ``= ``) as str, bool, int or float (None when empty)."""
    text = text.strip()
    if text.startswith("'"):
        value, rest = "", text[1:]
        while True:  # '' inside a string is a quote
            head, sep, rest = rest.partition("'")
            value += head
            if not sep or not rest.startswith("'"):
                return value.rstrip()
            value, rest = value + "'", rest[1:]
    text = text.split("/", 1)[0].strip()
    if text in ("T", "F"):
        return text == "T"
    for kind in (int, float):
        try:
            return kind(text.replace("D", "E") if kind is float else text)
        except ValueError:
            pass
    return text or None


def scan_headers(path, primary_keys=(), sci_keys=()) -> HeaderScan:
    """Walk a FITS file's headers without reading its data (no astropy: a few 2880-byte reads per
    HDU, cheap enough for every member while the workflow loads) and check that the file holds all
    the data its headers announce.

    Raises InputError naming the file when it is not FITS, or is truncated or corrupt: a header
    without END, or an HDU whose data runs past the end of the file (a download cut short, inside
    the arrays or inside the ASDF extension).
    """
    path = Path(path)
    wanted = set(primary_keys) | set(sci_keys) | _STRUCTURE_KEYS
    scan = HeaderScan([], {}, {})
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            offset = 0
            while offset < size:
                index = len(scan.hdus)
                cards, naxis, header_end = _read_header(f, path, offset, index, wanted)
                name = str(cards.get("EXTNAME") or ("PRIMARY" if index == 0 else f"HDU {index}")).strip()
                data_end = header_end + _data_bytes(cards, naxis, path, index)
                if data_end > size:
                    raise _corrupt(
                        path,
                        f"it ends at byte {size} inside HDU {index} ({name}), whose data runs to "
                        f"byte {data_end}",
                    )
                if index == 0:
                    scan.primary = {k: cards.get(k) for k in primary_keys}
                elif name.upper() == "SCI" and not scan.sci_ndim:
                    scan.sci, scan.sci_ndim = {k: cards.get(k) for k in sci_keys}, len(naxis)
                if name.upper() == "ASDF" and scan.asdf_wcs is None:
                    f.seek(header_end)
                    if not _read_asdf_tree(scan, f.read(data_end - header_end)):
                        raise _corrupt(path, "its ASDF extension cannot be read (it holds no ASDF file)")
                scan.shapes.setdefault(name.upper(), tuple(naxis[::-1]))
                scan.hdus.append(name)
                offset = header_end + -(-(data_end - header_end) // 2880) * 2880
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except OSError as err:
        raise InputError(f"{path}: not a readable FITS file ({err})") from None
    if not scan.hdus:
        raise InputError(f"{path}: not a FITS file (it is empty)")
    return scan


_ASDF_SOURCE = re.compile(rb"source:\s*fits:([A-Za-z0-9_]+),")
_GWCS_TAG = re.compile(rb"wcs:\s*!<?tag:stsci\.edu:gwcs/wcs-")


def _read_asdf_tree(scan, data: bytes) -> bool:
    """From the ASDF extension's bytes (a binary table of one cell holding an ASDF file): the
    FITS extensions its arrays live in and whether it holds a gwcs (``meta.wcs``), by their YAML
    tags and keys (no YAML parsed). False when the bytes hold no ASDF file."""
    if b"#ASDF " not in data[:4096]:
        return False
    scan.asdf_sources = {m.decode().upper() for m in _ASDF_SOURCE.findall(data)}
    scan.asdf_wcs = _GWCS_TAG.search(data) is not None
    return True


def _read_header(f, path, offset, index, wanted):
    """The ``wanted`` cards of the header at ``offset`` (HDU ``index``), its NAXISn values in order,
    and the offset where its data starts."""
    f.seek(offset)
    cards, axes = {}, {}
    continued = None  # the wanted key whose string value goes on in CONTINUE cards (ends with &)
    while True:
        block = f.read(2880)
        if f.tell() - len(block) == offset:  # the header's first block
            if not block.startswith(b"SIMPLE  =" if index == 0 else b"XTENSION="):
                if index == 0:
                    raise InputError(f"{path}: not a FITS file (no SIMPLE card)")
                raise _corrupt(path, f"the bytes after HDU {index - 1} are not a FITS extension")
        if len(block) < 2880:
            raise _corrupt(path, f"it ends inside the header of HDU {index}")
        for k in range(0, 2880, 80):
            key = block[k : k + 8].decode("ascii", "replace").rstrip()
            if key == "END":
                n = cards.get("NAXIS")
                naxis = [axes.get(i) for i in range(1, n + 1)] if isinstance(n, int) and n >= 0 else None
                return cards, naxis, f.tell()
            if continued:  # FITS long strings: CONTINUE cards, each piece but the last ending with &
                if key == "CONTINUE":
                    cards[continued] = cards[continued][:-1] + str(_card_value(_value_field(block, k)) or "")
                    continued = continued if cards[continued].endswith("&") else None
                    continue
                continued = None
            if block[k + 8 : k + 10] != b"= ":
                continue
            if key in wanted:
                if key not in cards:
                    cards[key] = value = _card_value(_value_field(block, k))
                    continued = key if isinstance(value, str) and value.endswith("&") else None
            elif key.startswith("NAXIS") and key[5:].isdigit():
                axes[int(key[5:])] = _card_value(_value_field(block, k))


def _value_field(block: bytes, k: int) -> str:
    """The value field (columns 11-80) of the card at byte ``k`` of a header block."""
    return block[k + 10 : k + 80].decode("ascii", "replace")


def _data_bytes(cards, naxis, path, index) -> int:
    """Bytes of an HDU's data (without the padding to 2880) from BITPIX, NAXISn, PCOUNT, GCOUNT."""
    bitpix, pcount, gcount = cards.get("BITPIX"), cards.get("PCOUNT", 0), cards.get("GCOUNT", 1)
    numbers = [bitpix, pcount, gcount, *(naxis or [])]
    if (
        naxis is None
        or bitpix not in (8, 16, 32, 64, -32, -64)
        or not all(isinstance(n, int) and n >= 0 for n in numbers[1:])
    ):
        raise _corrupt(path, f"HDU {index} has no valid BITPIX/NAXISn/PCOUNT/GCOUNT cards")
    if not naxis:
        return 0
    return abs(bitpix) // 8 * gcount * (pcount + math.prod(naxis))


def _corrupt(path, detail) -> InputError:
    return InputError(f"{path}: truncated or corrupt FITS file: {detail} (a download cut short?)")
