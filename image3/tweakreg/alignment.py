"""Relative and absolute alignment of a product's exposures.

Each exposure's catalog (0-based pixel x, y) is matched in a V2/V3 tangent plane (arcsec) and a
linear correction is fitted and inserted into its gwcs as tweakwcs' ``v2v3corr`` frame, the same
correction the official pipeline applies. Exposures of one exposure group (all detectors read out
together) share one correction. A fit is rejected, and the exposure keeps its WCS, when the match
has too few sources or when the correction moves it further than ``searchrad + tolerance``.

Relative alignment by default fits all groups at once over every overlapping pair of exposures
(global_fit); the official one-by-one tweakwcs alignment (``align_wcs``) remains available, and
absolute alignment to a reference catalog uses it.
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

from ..errors import InputError
from ..io.exposure_groups import group_id
from ..io.fits_read import read_gwcs, read_lean
from . import global_fit
from .settings import FitSettings

__all__ = [
    "ALIGNED",
    "align_absolute",
    "align_relative",
    "load_exposure_catalogs",
    "ExposureCatalog",
    "read_reference_catalog",
    "report",
    "warn_close_separation",
]

log = logging.getLogger("image3")

ALIGNED = ("SUCCESS", "REFERENCE")


def _matcher(settings: FitSettings) -> XYXYMatch:
    """The cross-matcher of two catalogs with the fit's search settings."""
    return XYXYMatch(
        searchrad=settings.searchrad,
        separation=settings.separation,
        use2dhist=settings.use2dhist,
        tolerance=settings.tolerance,
        xoffset=settings.xoffset,
        yoffset=settings.yoffset,
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


def _usable(exposures, fewest, label, *, by_group=False, limit="minobj"):
    """The exposures with at least ``fewest`` sources (``by_group``: summed over each exposure
    group's files); the others are marked FAILED (``limit`` names the setting in the status)."""
    key = (lambda e: e.group) if by_group else (lambda e: e.name)
    totals = {}
    for e in exposures:
        totals[key(e)] = totals.get(key(e), 0) + len(e.catalog)
    usable = []
    for e in exposures:
        if totals[key(e)] < fewest:
            e.info[label] = {"status": f"FAILED: {totals[key(e)]} sources < {limit} = {fewest}"}
            _warn_unaligned(e, label)
        else:
            usable.append(e)
    return usable


def _warn_unaligned(e: ExposureCatalog, label):
    log.warning("%s alignment of %s: %s; its WCS is left as it was", label, e.name, e.info[label]["status"])


def _run(exposures, refcat, settings: FitSettings, enforce_user_order, expand_refcat, label):
    """align_wcs on ``exposures``; update their wcs and info in place.

    Exposure groups with fewer than ``minobj`` sources (over their files) cannot be fitted: they are
    marked FAILED up front (tweakwcs would otherwise stop the whole alignment on a degenerate
    catalog); a group's other files are not fitted without one of them.
    """
    exposures = _usable(exposures, settings.minobj, label, by_group=True)
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
            match=_matcher(settings),
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
        e.info[label] = summary
        if summary["status"] not in ALIGNED:
            _warn_unaligned(e, label)


def _tight(settings: FitSettings, tolerance):
    """``settings`` for a match within ``tolerance`` (arcsec) of the current solution: no 2D
    histogram, no initial offset, ``searchrad`` 2 x and ``separation`` 1 x ``tolerance``."""
    return replace(
        settings,
        searchrad=2 * tolerance,
        tolerance=tolerance,
        use2dhist=False,
        separation=tolerance,
        xoffset=0.0,
        yoffset=0.0,
    )


def _refine(exposures, refcat, settings: FitSettings, tolerance, label):
    """Second pass with a tight match within ``tolerance`` arcsec (see _tight).

    The first pass's match tolerance (0.7 arcsec by default, 20 NIRCam pixels) lets unrelated
    sources pair up in crowded fields, and clipping does not remove them all; after the first
    correction the true pairs lie within a few mas, so re-matching tightly drops the false ones.
    Only exposures that aligned in the first pass take part.
    """
    done = [e for e in exposures if e.info[label]["status"] in ALIGNED]
    enough = len({e.group for e in done}) >= 2 if refcat is None else bool(done)
    if not enough:
        return
    _run(done, refcat, _tight(settings, tolerance), True, False, f"{label}_refine")


def _plane_catalog(e: ExposureCatalog, plane, group):
    """``e``'s sources and chip outline in the tangent plane of the corrector ``plane`` (arcsec)."""
    x, y = np.asarray(e.catalog["x"], float), np.asarray(e.catalog["y"], float)
    ny, nx = e.shape
    cx, cy = np.array([-0.5, nx - 0.5, nx - 0.5, -0.5]), np.array([-0.5, -0.5, ny - 0.5, ny - 0.5])
    xy = np.column_stack(plane.world_to_tanp(*e.wcs(x, y, with_bounding_box=False)))
    corners = np.column_stack(plane.world_to_tanp(*e.wcs(cx, cy, with_bounding_box=False)))
    return global_fit.PlaneCatalog(e.name, group, xy, corners)


def _references(sets, counts, names, enforce_user_order, prefer):
    """One fixed group per connected set of overlapping groups (groups with ``counts`` > 0): the
    set's first group with ``enforce_user_order``, else one named in ``prefer``, else the one with
    the most matches."""
    fixed = []
    for s in np.unique(sets[counts > 0]):
        members = np.flatnonzero((sets == s) & (counts > 0))
        preferred = [g for g in members if names[g] in prefer]
        if enforce_user_order:
            fixed.append(members[0])
        elif preferred:
            fixed.append(preferred[0])
        else:
            fixed.append(members[np.argmax(counts[members])])
    return fixed


def _global_pass(catalogs, names, centres, pixel_scale, settings: FitSettings, enforce_user_order, prefer):
    """One global fit of the groups of ``catalogs`` (see global_fit): a summary per group index.

    Every two exposures of different groups whose outlines overlap are matched; a pair counts with
    at least ``pair_minobj`` matches. Each connected set of overlapping groups keeps one reference
    group fixed (see _references). A group is refused, and the system solved again without it, when
    fewer than ``minobj`` of its matches (over all its overlaps, in the first solution) survive
    clipping, or its correction moves its centre further than ``searchrad + tolerance``. The match
    count is judged once so that one refused group does not take its neighbours' matches below
    ``minobj`` and so on along a mosaic. A sparse field: a group with fewer than ``minobj``
    matches but at least ``sparse_minobj`` is fitted for a shift alone (its summary's
    ``fitgeometry`` says so, and a warning) and kept. A fitted group's summary holds its
    correction as ``matrix`` and ``shift`` (``matrix @ x + shift`` in the common plane).
    """
    pairs = global_fit.match_pairs(
        catalogs, _matcher(settings), pixel_scale, settings.searchrad, settings.pair_minobj
    )
    group_of = np.array([c.group for c in catalogs])
    limit = settings.searchrad + settings.tolerance
    summaries, shift_only = {}, set()
    while True:
        active = [p for p in pairs if group_of[p.a] not in summaries and group_of[p.b] not in summaries]
        if not active:
            break
        a, b = group_of[[p.a for p in active]], group_of[[p.b for p in active]]
        n = np.array([len(p.ia) for p in active])
        counts = np.bincount(a, n, len(names)) + np.bincount(b, n, len(names))
        sets = global_fit.connected_sets(len(names), a, b)
        fixed = _references(sets, counts, names, enforce_user_order, prefer)
        solution = global_fit.solve(
            catalogs,
            active,
            centres,
            fixed,
            settings.fitgeometry,
            settings.nclip,
            settings.sigma,
            settings.pair_minobj,
            shift_only=shift_only,
        )
        matched = solution.n_matched
        sparse = {
            g
            for g in np.flatnonzero(counts)
            if settings.sparse_minobj <= matched[g] < settings.minobj and g not in fixed
        }
        if settings.fitgeometry != "shift" and not summaries and sparse - shift_only:
            new = sorted(sparse - shift_only)
            log.warning(
                "sparse field: %s with %s matches (< minobj = %d, >= sparse_minobj = %d): "
                "fitted for a shift alone",
                ", ".join(names[g] for g in new),
                ", ".join(str(matched[g]) for g in new),
                settings.minobj,
                settings.sparse_minobj,
            )
            shift_only |= sparse
            continue
        refused = {}
        fewest = 1 if summaries else min(settings.minobj, settings.sparse_minobj)
        for g in np.flatnonzero(counts):
            moved = np.hypot(*solution.params[g, :2])
            if solution.n_matched[g] < fewest:
                refused[g] = (
                    f"FAILED: {solution.n_matched[g]} matches < minobj = {settings.minobj} "
                    f"(sparse_minobj = {settings.sparse_minobj})"
                )
            elif moved > limit:
                refused[g] = f"REJECTED: shift {moved:.3f} arcsec > searchrad + tolerance = {limit}"
        summaries.update({g: {"status": status} for g, status in refused.items()})
        if not refused:
            break
    if not active:
        return summaries
    if len(fixed) > 1:
        log.warning(
            "the exposures form %d sets that do not overlap each other (references %s); each set is "
            "aligned within itself only",
            len(fixed),
            ", ".join(names[g] for g in fixed),
        )
    for g in np.flatnonzero(counts):
        geometry = "shift" if g in shift_only else settings.fitgeometry
        fit = {
            "n_matched": int(solution.n_matched[g]),
            "rms": float(solution.rms[g]),
            "fitgeometry": geometry,
        }
        if g in fixed:
            summaries[g] = {"status": "REFERENCE", **fit}
            continue
        params = solution.params[g]
        matrix = np.eye(2) + global_fit.linear_part(params, geometry)
        if geometry == "rshift":  # the fit's linearised rotation made exact
            matrix /= np.hypot(1.0, params[2])
        summaries[g] = {
            "status": "SUCCESS",
            "shift_x": float(params[0]),
            "shift_y": float(params[1]),
            "rotation": float(np.degrees(np.arctan2(matrix[1, 0], matrix[0, 0]))),
            "scale": float(np.sqrt(abs(np.linalg.det(matrix)))),
            **fit,
            "matrix": matrix,
            "shift": centres[g] + params[:2] - matrix @ centres[g],
        }
    return summaries


def _align_global(exposures, settings: FitSettings, enforce_user_order, refine_tolerance, label):
    """Relative alignment of all groups at once (_global_pass), then the tight refits; update the
    exposures' wcs and info in place.

    All work happens in the tangent plane of the first exposure: each pass moves the catalogs in
    that plane by its corrections; each exposure's gwcs gets the product of its group's corrections
    once, at the end. The refits (info ``<label>_refine``) match within half the previous tolerance
    each, down to ``refine_tolerance``: in a sparse overlap a third or more of the first pass's
    matches (0.7 arcsec tolerance) can be false and leave a group a few tenths of an arcsec off,
    beyond a single tight match's reach. Each refit takes the groups that aligned in the pass before
    and keeps its references. Groups that overlap no other keep their WCS, with a warning.
    """
    fewest = min(settings.minobj, settings.sparse_minobj)
    limit = "sparse_minobj" if fewest < settings.minobj else "minobj"
    exposures = _usable(exposures, fewest, label, by_group=True, limit=limit)
    names = list(dict.fromkeys(e.group for e in exposures))
    if len(names) < 2:
        for e in exposures:
            e.info[label] = {"status": "SKIPPED: fewer than two exposure groups with enough sources"}
        return
    plane = JWSTWCSCorrector(exposures[0].wcs, exposures[0].wcsinfo)
    catalogs = [_plane_catalog(e, plane, names.index(e.group)) for e in exposures]
    centres = np.array(
        [np.concatenate([c.xy for c in catalogs if c.group == g]).mean(axis=0) for g in range(len(names))]
    )
    passes = [(settings, label)]
    if refine_tolerance:
        halvings = max(int(np.ceil(np.log2(settings.tolerance / refine_tolerance))), 1)
        tolerances = np.maximum(settings.tolerance / 2.0 ** np.arange(1, halvings + 1), refine_tolerance)
        passes += [(_tight(settings, t), f"{label}_refine") for t in tolerances]
    total = {g: (np.eye(2), np.zeros(2)) for g in range(len(names))}
    taking_part, prefer = np.ones(len(catalogs), bool), ()
    for k, (pass_settings, pass_label) in enumerate(passes):
        if len({c.group for c, part in zip(catalogs, taking_part, strict=True) if part}) < 2:
            break
        summaries = _global_pass(
            [c for c, part in zip(catalogs, taking_part, strict=True) if part],
            names,
            centres,
            plane.tanp_center_pixel_scale,
            pass_settings,
            enforce_user_order and k == 0,
            prefer,
        )
        alone = {"status": f"FAILED: overlaps no other exposure group (>= {settings.pair_minobj} matches)"}
        for e, c, part in zip(exposures, catalogs, taking_part, strict=True):
            if not part:
                continue
            summary = summaries.get(c.group, alone)
            e.info[pass_label] = {key: v for key, v in summary.items() if key not in ("matrix", "shift")}
            if summary["status"] not in ALIGNED:
                _warn_unaligned(e, pass_label)
        for g, summary in summaries.items():
            if summary["status"] == "SUCCESS":
                matrix, shift = summary["matrix"], summary["shift"]
                for c in catalogs:
                    if c.group == g:
                        c.xy, c.corners = c.xy @ matrix.T + shift, c.corners @ matrix.T + shift
                total[g] = (matrix @ total[g][0], matrix @ total[g][1] + shift)
                centres[g] = matrix @ centres[g] + shift
        taking_part &= [summaries.get(c.group, alone)["status"] in ALIGNED for c in catalogs]
        prefer = {names[g] for g, summary in summaries.items() if summary["status"] == "REFERENCE"}
    for e, c in zip(exposures, catalogs, strict=True):
        matrix, shift = total[c.group]
        if shift.any() or not np.array_equal(matrix, np.eye(2)):
            corrector = JWSTWCSCorrector(e.wcs, e.wcsinfo)
            corrector.set_correction(matrix=matrix, shift=shift, ref_tpwcs=plane)
            e.wcs = corrector.wcs


def warn_close_separation(settings: FitSettings, prefix=""):
    """Warn (and return True) when ``separation <= sqrt(2) * tolerance``: two sources closer than
    ``sqrt(2)`` tolerance circles can then both stay in a catalog and both match within tolerance,
    so some matches may be confused. The official step skips the alignment then (the exposures
    keep their WCS); we align anyway, as the fit clips the false matches (our own tight passes
    match with ``separation`` equal to ``tolerance``). ``prefix``: ``abs_`` for the absolute fit's
    keys, as they are named in the warning."""
    limit = np.sqrt(2.0) * settings.tolerance
    if settings.separation > limit:
        return False
    log.warning(
        "tweakreg.%sseparation = %g arcsec <= sqrt(2) x tweakreg.%stolerance = %.3g: sources this "
        "close can be confused in the match. The official step skips this alignment (the exposures "
        "keep their WCS); aligning anyway, the fit clipping false matches. Raise %sseparation or "
        "lower %stolerance to match sources unambiguously.",
        prefix,
        settings.separation,
        prefix,
        limit,
        prefix,
        prefix,
    )
    return True


def align_relative(
    exposures,
    settings: FitSettings,
    enforce_user_order=False,
    expand_refcat=False,
    refine_tolerance=0.1,
    global_fit=True,
):
    """Align the exposures (groups) to each other; a single group needs nothing and is skipped.

    ``global_fit`` (ours): one least-squares solution over every overlapping pair of exposures
    (_align_global), so exposures that do not overlap the reference are aligned too and a mosaic's
    chain of overlaps does not pile up error; ``enforce_user_order`` then makes the first group the
    reference, and ``expand_refcat`` has nothing to add (every exposure is matched to all it
    overlaps). ``global_fit`` False: the official one-by-one tweakwcs alignment, each group matched
    to the reference (or with ``expand_refcat`` to all aligned before it). ``refine_tolerance``
    (arcsec; None or 0 to skip) sets the tight last pass (see _refine, _align_global).
    """
    if len({e.group for e in exposures}) < 2:
        log.info("one exposure group: relative alignment skipped")
        for e in exposures:
            e.info["relative"] = {"status": "SKIPPED: one exposure group"}
        return
    warn_close_separation(settings)
    if global_fit:
        _align_global(exposures, settings, enforce_user_order, refine_tolerance, "relative")
    else:
        _run(exposures, None, settings, enforce_user_order, expand_refcat, "relative")
        if refine_tolerance:
            _refine(exposures, None, settings, refine_tolerance, "relative")


def align_absolute(exposures, refcat: Table, settings: FitSettings, refine_tolerance=0.1):
    """Align all exposures together (one group, keeping the relative solution) to ``refcat``
    (``settings``: the ``abs_`` keys; see :func:`warn_close_separation`)."""
    warn_close_separation(settings, "abs_")
    grouped = [
        ExposureCatalog(e.name, "absolute", e.wcs, e.wcsinfo, e.catalog, e.shape, e.info) for e in exposures
    ]
    _run(grouped, refcat, settings, False, False, "absolute")
    if refine_tolerance:
        _refine(grouped, refcat, settings, refine_tolerance, "absolute")
    for e, g in zip(exposures, grouped, strict=True):
        e.wcs = g.wcs


def _applied_correction(e: ExposureCatalog):
    """Shift (arcsec east, north) and rotation (deg) the alignment applied at the chip centre."""
    x, y = (e.shape[1] - 1) / 2.0, (e.shape[0] - 1) / 2.0
    xs, ys = np.array([x, x]), np.array([y, y + 100.0])
    before = SkyCoord(*e.original_wcs(xs, ys, with_bounding_box=False), unit="deg")
    after = SkyCoord(*e.wcs(xs, ys, with_bounding_box=False), unit="deg")
    east, north = before[0].spherical_offsets_to(after[0])
    rotation = after[0].position_angle(after[1]) - before[0].position_angle(before[1])
    return float(east.arcsec), float(north.arcsec), float(rotation.wrap_at(180 * u.deg).deg)


def report(exposures) -> Table:
    """One row per exposure: each stage's status, matches and fit RMS (mas) of the last stage that
    reports them (the global fit does for its references too) and the applied correction.

    ``aligned`` is False for an exposure whose WCS no stage changed (and that was no reference).
    """
    rows = []
    for e in exposures:
        east, north, rotation = _applied_correction(e)
        succeeded = [v for v in e.info.values() if v.get("status") == "SUCCESS"]
        reference = any(v.get("status") == "REFERENCE" for v in e.info.values())
        fitted = [v for v in e.info.values() if v.get("status") in ALIGNED and "n_matched" in v]
        last = fitted[-1] if fitted else {}
        rows.append(
            {
                "exposure": e.name,
                "group": e.group,
                "aligned": bool(succeeded) or reference,
                "n_sources": len(e.catalog),
                "n_matched": last.get("n_matched", 0),
                "fit_rms": 1000 * last.get("rms", np.nan),
                "fitgeometry": last.get("fitgeometry", ""),
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


def load_exposure_catalogs(cal_paths, catalog_paths, names, *, group_exposures=True):
    """The :class:`ExposureCatalog` of each level-2b file and its source catalog (x, y: 0-based
    pixels), and the mid-exposure MJD of the first file, from the files' headers and gwcs alone (no
    datamodel). With ``group_exposures`` the files of one exposure (its detectors) share a group and
    move together."""
    exposures, mjd = [], None
    for cal, cat, name in zip(cal_paths, catalog_paths, names, strict=True):
        lean = read_lean(cal, extensions=())
        group = group_id(lean.observation, name, group_exposures=group_exposures)
        exposures.append(
            ExposureCatalog(name, group, read_gwcs(cal), lean.reference_angles, Table.read(cat), lean.shape)
        )
        mjd = mjd or lean.mid_time
    return exposures, mjd


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
    try:
        ra = np.asarray(table[names["ra"]], float)
        dec = np.asarray(table[names["dec"]], float)
    except (TypeError, ValueError) as err:
        raise InputError(f"tweakreg.abs_refcat: {path}: RA/Dec are not numbers ({err})") from None
    usable = np.isfinite(ra) & np.isfinite(dec) & (np.abs(dec) <= 90)
    if not usable.any():
        raise InputError(
            f"tweakreg.abs_refcat: {path} has no usable rows ({len(table)} rows, none with a finite "
            "RA and a Dec within +-90 deg)"
        )
    table, ra, dec = table[usable], ra[usable], dec[usable]
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
