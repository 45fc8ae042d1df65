"""Alignment QA: how well the aligned exposures agree, and a figure for the report."""

import numpy as np
from astropy.table import Table

from .._plotting import fixed_margins, plt

__all__ = ["match_residuals", "plot_alignment"]


def match_residuals(exposures, radius_arcsec=0.05) -> Table:
    """For each exposure's sources: offset (mas) from the same source in the other exposures.

    Sources are projected to the sky with each exposure's final WCS and matched to the nearest
    source of every other exposure within ``radius_arcsec``; the residual is the position minus the
    mean of its matches. Columns: exposure, x, y (0-based pixels), d_east, d_north (mas). One
    k-d tree over all sources finds every pair closer than the radius, so the cost grows with the
    number of sources, not with the number of pairs of exposures.
    """
    xs, ys, ras, decs, owner = [], [], [], [], []
    for k, e in enumerate(exposures):
        x, y = np.asarray(e.catalog["x"], float), np.asarray(e.catalog["y"], float)
        ra, dec = e.wcs(x, y, with_bounding_box=False)
        xs.append(x)
        ys.append(y)
        ras.append(np.asarray(ra))
        decs.append(np.asarray(dec))
        owner.append(np.full(len(x), k))
    ra, dec, owner = (np.concatenate(v) if v else np.zeros(0) for v in (ras, decs, owner))
    owner = owner.astype(int)
    p, q = _pairs_within(ra, dec, radius_arcsec)
    keep = owner[p] != owner[q]
    p, q = p[keep], q[keep]
    d_east, d_north = _small_offsets(ra[p], dec[p], ra[q], dec[q])
    # each source's nearest match in each other exposure
    order = np.lexsort((np.hypot(d_east, d_north), owner[q], p))
    first = order[np.unique(np.column_stack([p[order], owner[q[order]]]), axis=0, return_index=True)[1]]
    p, d_east, d_north = p[first], d_east[first], d_north[first]
    n = len(ra)
    count = np.bincount(p, minlength=n)
    mean_east = np.bincount(p, d_east, minlength=n) / np.maximum(count, 1)
    mean_north = np.bincount(p, d_north, minlength=n) / np.maximum(count, 1)
    has = count > 0
    table = Table(
        {
            "exposure": np.array([exposures[k].name for k in owner[has]], dtype=str),
            "x": np.concatenate(xs)[has] if xs else np.zeros(0),
            "y": np.concatenate(ys)[has] if ys else np.zeros(0),
            "d_east": mean_east[has],
            "d_north": mean_north[has],
        }
    )
    table["d_east"].unit = table["d_north"].unit = "mas"
    return table


def _pairs_within(ra, dec, radius_arcsec):
    """Index pairs (both orders) of sky positions (deg) closer than ``radius_arcsec``."""
    from scipy.spatial import cKDTree

    if len(ra) == 0:
        return np.zeros(0, int), np.zeros(0, int)
    a, d = np.radians(ra), np.radians(dec)
    unit = np.column_stack([np.cos(d) * np.cos(a), np.cos(d) * np.sin(a), np.sin(d)])
    chord = 2 * np.sin(np.radians(radius_arcsec / 3600) / 2)
    pairs = cKDTree(unit).query_pairs(chord, output_type="ndarray")
    return np.concatenate([pairs[:, 0], pairs[:, 1]]), np.concatenate([pairs[:, 1], pairs[:, 0]])


def _small_offsets(ra, dec, ra0, dec0):
    """(east, north) offsets in mas of positions from nearby reference positions (deg), as
    ``SkyCoord.spherical_offsets_to`` gives them for separations of a fraction of an arcsecond."""
    d_ra = (np.asarray(ra) - ra0 + 180.0) % 360.0 - 180.0
    return d_ra * np.cos(np.radians(dec0)) * 3.6e6, (np.asarray(dec) - dec0) * 3.6e6


def plot_alignment(report: Table, residuals: Table, png_path, *, max_panels=12):
    """Residual vectors per exposure at their sources' detector positions (x, y in pixels; the
    arrows are the (east, north) residuals drawn along (x, y), not turned into the detector's
    orientation, as the panels' titles say) and the applied corrections (east to the left).

    With more than ``max_panels`` exposures, residual panels are drawn for the ``max_panels``
    with the largest residual RMS (those without matches first), so the figure's size and memory
    stay bounded; the corrections are drawn for all.
    """
    by_name = _residuals_by_exposure(residuals)
    names = _worst_exposures(list(report["exposure"]), by_name, max_panels)
    n = len(names)
    cols = min(n, 4)
    rows = int(np.ceil(n / cols)) + 1
    fig = plt.figure(figsize=(3.6 * cols, 3.4 * rows))
    scale = 20.0  # pixels per mas in the arrows
    for k, name in enumerate(names):
        ax = fig.add_subplot(rows, cols, k + 1)
        sel = by_name.get(name)
        if sel is not None:
            ax.quiver(
                sel["x"],
                sel["y"],
                sel["d_east"],
                sel["d_north"],
                angles="xy",
                scale_units="xy",
                scale=1 / scale,
                width=0.004,
            )
            ax.set_title(f"{name[-24:]}\n{len(sel)} matches, rms {_rms(sel):.2f} mas", fontsize=8)
        else:
            ax.set_title(f"{name[-24:]}\nno matches", fontsize=8)
        ax.set_aspect("equal")
        ax.tick_params(labelsize=7)
        ax.set_xlabel("x (pixel)", fontsize=7)
        ax.set_ylabel("y (pixel)", fontsize=7)
    ax = fig.add_subplot(rows, 1, rows)
    for k, row in enumerate(report):
        color = "C0" if row["aligned"] else "C3"
        ax.annotate(
            "",
            (row["shift_east"], row["shift_north"]),
            (0, 0),
            arrowprops={"arrowstyle": "->", "color": color},
        )
        ax.annotate(
            f'{k + 1}: rot {row["rotation"] * 3600:.1f}"',
            (row["shift_east"], row["shift_north"]),
            fontsize=7,
            color=color,
        )
    lim = max(0.1, float(np.max(np.abs([report["shift_east"], report["shift_north"]])))) * 1.4
    ax.set_xlim(lim, -lim)  # east to the left, as on the sky
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.set_xlabel("applied shift east (arcsec)")
    ax.set_ylabel("north (arcsec)")
    shown = "" if n == len(report) else f"; panels: the {n} of {len(report)} exposures with the largest rms"
    ax.set_title(
        f"residual arrows (east, north) along (x, y), x{scale:.0f} pixels per mas{shown}; "
        "red: left unaligned",
        fontsize=9,
    )
    fixed_margins(fig, left=0.6, top=0.55, hspace=0.45)
    fig.savefig(png_path, dpi=80, format="png")
    plt.close(fig)


def _residuals_by_exposure(residuals: Table) -> dict:
    """{exposure: its rows of the residual table}."""
    if not len(residuals):
        return {}
    groups = residuals.group_by("exposure").groups
    return {str(key["exposure"]): group for key, group in zip(groups.keys, groups, strict=True)}


def _rms(sel) -> float:
    """Residual RMS per axis (mas) of an exposure's rows."""
    return float(np.sqrt(np.mean(sel["d_east"] ** 2 + sel["d_north"] ** 2) / 2))


def _worst_exposures(names, by_name, max_panels):
    """``names``, or the ``max_panels`` of them with the largest residual RMS (those without
    matches first), in their order."""
    if len(names) <= max_panels:
        return names
    rms = {name: _rms(by_name[name]) if name in by_name else np.inf for name in names}
    worst = set(sorted(names, key=lambda name: -rms[name])[:max_panels])
    return [name for name in names if name in worst]
