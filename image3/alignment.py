"""Relative and absolute alignment of a product's exposures with tweakwcs.

Each exposure's catalog (0-based pixel x, y) is matched in the V2/V3 tangent plane (arcsec) and a
linear correction is fitted and inserted into its gwcs as tweakwcs' ``v2v3corr`` frame, the same
correction the official pipeline applies. Exposures of one exposure group (all detectors read out
together) share one correction. A fit is rejected, and the exposure keeps its WCS, when the match
has too few sources or when the correction moves it further than ``searchrad + tolerance``.
"""

import logging
from dataclasses import dataclass, field, replace

import numpy as np
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.table import Table
from astropy.time import Time
from tweakwcs.correctors import JWSTWCSCorrector
from tweakwcs.imalign import align_wcs
from tweakwcs.matchutils import XYXYMatch

from .errors import InputError

log = logging.getLogger("image3")

FITGEOMETRIES = ("shift", "rshift", "rscale", "general")


@dataclass(frozen=True)
class FitSettings:
    """Matching and fitting parameters (official names; lengths in arcsec)."""

    searchrad: float = 2.0
    use2dhist: bool = True
    separation: float = 1.0
    tolerance: float = 0.7
    xoffset: float = 0.0
    yoffset: float = 0.0
    fitgeometry: str = "rshift"
    nclip: int = 3
    sigma: float = 3.0
    minobj: int = 15

    def __post_init__(self):
        if self.fitgeometry not in FITGEOMETRIES:
            raise InputError(f"fitgeometry = {self.fitgeometry!r}: choose one of {FITGEOMETRIES}")

    def matcher(self):
        return XYXYMatch(
            searchrad=self.searchrad,
            separation=self.separation,
            use2dhist=self.use2dhist,
            tolerance=self.tolerance,
            xoffset=self.xoffset,
            yoffset=self.yoffset,
        )


@dataclass
class ExposureCatalog:
    """One exposure for alignment: name, exposure group, gwcs, reference angles, sources, shape.

    ``wcs`` is updated in place by the alignment; ``original_wcs`` keeps the input one; ``info``
    collects each stage's fit summary.
    """

    name: str
    group: str
    wcs: object
    wcsinfo: dict
    catalog: Table
    shape: tuple
    info: dict = field(default_factory=dict)

    def __post_init__(self):
        self.original_wcs = self.wcs


def _correctors(exposures):
    correctors = []
    for e in exposures:
        catalog = Table({"x": e.catalog["x"], "y": e.catalog["y"]})
        catalog.meta["name"] = e.name
        correctors.append(
            JWSTWCSCorrector(e.wcs, e.wcsinfo, meta={"catalog": catalog, "name": e.name, "group_id": e.group})
        )
    return correctors


def _fit_summary(corrector):
    """Applied shift (arcsec), rotation (deg), scale, matches and fit RMS of a corrector's fit."""
    info = corrector.meta.get("fit_info", {})
    status = info.get("status", "SKIPPED")
    if status != "SUCCESS":
        return {"status": status}
    return {
        "status": status,
        "shift_x": float(info["shift"][0]),
        "shift_y": float(info["shift"][1]),
        "rotation": float(info["<rot>"]),
        "scale": float(info["<scale>"]),
        "n_matched": int(info["nmatches"]),
        "rms": float(info["rmse"]),
        "fit_ra": np.asarray(info.get("fit_RA", [])),
        "fit_dec": np.asarray(info.get("fit_DEC", [])),
        "matched_ref": np.asarray(info.get("matched_ref_idx", [])),
        "fitmask": np.asarray(info.get("fitmask", [])),
    }


def _run(exposures, refcat, settings: FitSettings, enforce_user_order, expand_refcat, label):
    """align_wcs on ``exposures``; update their wcs and info in place.

    Exposures with fewer than ``minobj`` sources cannot be fitted: they are marked FAILED up front
    (tweakwcs would otherwise stop the whole alignment on a degenerate catalog).
    """
    usable = []
    for e in exposures:
        if len(e.catalog) < settings.minobj:
            e.info[label] = {"status": f"FAILED: {len(e.catalog)} sources < minobj = {settings.minobj}"}
            log.warning(
                "%s alignment of %s: %s; its WCS is left as it was", label, e.name, e.info[label]["status"]
            )
        else:
            usable.append(e)
    exposures = usable
    if not exposures:
        return
    correctors = _correctors(exposures)
    try:
        align_wcs(
            correctors,
            refcat=refcat,
            enforce_user_order=enforce_user_order,
            expand_refcat=expand_refcat,
            minobj=settings.minobj,
            match=settings.matcher(),
            fitgeom=settings.fitgeometry,
            nclip=settings.nclip,
            sigma=(settings.sigma, "rmse"),
        )
    except ValueError as err:  # tweakwcs: not enough non-empty catalogs, etc.
        log.warning("%s alignment skipped: %s", label, err)
        for e in exposures:
            e.info[label] = {"status": f"SKIPPED: {err}"}
        return
    limit = settings.searchrad + settings.tolerance
    for e, c in zip(exposures, correctors, strict=True):
        summary = _fit_summary(c)
        if summary["status"] == "SUCCESS":
            moved = np.hypot(summary["shift_x"], summary["shift_y"])
            if moved > limit:
                summary["status"] = f"REJECTED: shift {moved:.3f} arcsec > searchrad + tolerance = {limit}"
            else:
                e.wcs = c.wcs
        if summary["status"] not in ("SUCCESS", "REFERENCE"):
            log.warning("%s alignment of %s: %s; its WCS is left as it was", label, e.name, summary["status"])
        e.info[label] = summary


def _refine(exposures, refcat, settings: FitSettings, tolerance, label):
    """Second pass with a tight match: ``tolerance`` arcsec, no 2D histogram, small separation.

    The first pass's match tolerance (0.7 arcsec by default, 20 NIRCam pixels) lets unrelated
    sources pair up in crowded fields, and clipping does not remove them all; after the first
    correction the true pairs lie within a few mas, so re-matching tightly drops the false ones.
    Only exposures that aligned in the first pass take part.
    """
    done = [e for e in exposures if e.info[label]["status"] in ("SUCCESS", "REFERENCE")]
    enough = len({e.group for e in done}) >= 2 if refcat is None else bool(done)
    if not enough:
        return
    tight = replace(
        settings, searchrad=2 * tolerance, tolerance=tolerance, use2dhist=False, separation=tolerance
    )
    _run(done, refcat, tight, True, False, f"{label}_refine")


def align_relative(
    exposures, settings: FitSettings, enforce_user_order=False, expand_refcat=False, refine_tolerance=0.1
):
    """Align the exposures (groups) to each other; a single group needs nothing and is skipped.

    ``refine_tolerance`` (arcsec; None or 0 to skip) sets the tight second pass (see _refine).
    """
    if len({e.group for e in exposures}) < 2:
        log.info("one exposure group: relative alignment skipped")
        for e in exposures:
            e.info["relative"] = {"status": "SKIPPED: one exposure group"}
        return
    _run(exposures, None, settings, enforce_user_order, expand_refcat, "relative")
    if refine_tolerance:
        _refine(exposures, None, settings, refine_tolerance, "relative")


def align_absolute(exposures, refcat: Table, settings: FitSettings, refine_tolerance=0.1):
    """Align all exposures together (one group, keeping the relative solution) to ``refcat``."""
    grouped = [
        ExposureCatalog(e.name, "absolute", e.wcs, e.wcsinfo, e.catalog, e.shape, e.info) for e in exposures
    ]
    _run(grouped, refcat, settings, False, False, "absolute")
    if refine_tolerance:
        _refine(grouped, refcat, settings, refine_tolerance, "absolute")
    for e, g in zip(exposures, grouped, strict=True):
        e.wcs = g.wcs


def applied_correction(e: ExposureCatalog):
    """Shift (arcsec east, north) and rotation (deg) the alignment applied at the chip centre."""
    x, y = (e.shape[1] - 1) / 2.0, (e.shape[0] - 1) / 2.0
    xs, ys = np.array([x, x]), np.array([y, y + 100.0])
    before = SkyCoord(*e.original_wcs(xs, ys, with_bounding_box=False), unit="deg")
    after = SkyCoord(*e.wcs(xs, ys, with_bounding_box=False), unit="deg")
    east, north = before[0].spherical_offsets_to(after[0])
    rotation = after[0].position_angle(after[1]) - before[0].position_angle(before[1])
    return float(east.arcsec), float(north.arcsec), float(rotation.wrap_at(180 * u.deg).deg)


def report(exposures) -> Table:
    """One row per exposure: each stage's status, matches, fit RMS (mas) and applied correction.

    ``aligned`` is False for an exposure whose WCS no stage changed (and that was no reference).
    """
    rows = []
    for e in exposures:
        east, north, rotation = applied_correction(e)
        succeeded = [v for v in e.info.values() if v.get("status") == "SUCCESS"]
        last = succeeded[-1] if succeeded else {}
        reference = any(v.get("status") == "REFERENCE" for v in e.info.values())
        rows.append(
            {
                "exposure": e.name,
                "group": e.group,
                "aligned": bool(succeeded) or reference,
                "n_sources": len(e.catalog),
                "n_matched": last.get("n_matched", 0),
                "fit_rms": 1000 * last.get("rms", np.nan),
                "shift_east": east,
                "shift_north": north,
                "rotation": rotation,
                "status": "; ".join(f"{k}: {v['status']}" for k, v in e.info.items()),
            }
        )
    table = Table(rows=rows)
    table["shift_east"].unit = table["shift_north"].unit = "arcsec"
    table["rotation"].unit = "deg"
    table["fit_rms"].unit = "mas"
    return table


def read_reference_catalog(path, epoch=None, obs_mjd=None) -> Table:
    """A reference catalog (ECSV or FITS) with RA/Dec in degrees, moved to the observation epoch.

    Columns ``ra``/``dec`` (any case) are required. When ``pmra``/``pmdec`` (mas/yr, pmra including
    cos dec) are present, positions are propagated from the catalog epoch (``epoch`` in decimal
    years, else an ``epoch``/``ref_epoch`` column or ``epoch`` in the table's meta) to ``obs_mjd``.
    """
    try:
        table = Table.read(path)
    except Exception as err:  # astropy raises many types for unreadable tables
        raise InputError(f"tweakreg.abs_refcat: cannot read {path}: {err}") from None
    names = {n.lower(): n for n in table.colnames}
    if "ra" not in names or "dec" not in names:
        raise InputError(f"tweakreg.abs_refcat: {path} has no RA/Dec columns (found {table.colnames})")
    ra = np.asarray(table[names["ra"]], float)
    dec = np.asarray(table[names["dec"]], float)
    if "pmra" in names and "pmdec" in names and obs_mjd is not None:
        if epoch is None:
            for key in ("epoch", "ref_epoch"):
                if key in names:
                    epoch = float(np.nanmedian(np.asarray(table[names[key]], float)))
                    break
            else:
                epoch = table.meta.get("epoch")
        if epoch is None:
            raise InputError(
                f"tweakreg.abs_refcat: {path} has proper motions but no epoch; set tweakreg.abs_epoch"
            )
        years = Time(obs_mjd, format="mjd").jyear - float(epoch)
        pmra = np.nan_to_num(np.asarray(table[names["pmra"]], float))
        pmdec = np.nan_to_num(np.asarray(table[names["pmdec"]], float))
        dec = dec + (pmdec * years * u.mas).to_value(u.deg)
        ra = ra + (pmra * years * u.mas).to_value(u.deg) / np.cos(np.deg2rad(dec))
    return Table({"RA": ra, "DEC": dec})
