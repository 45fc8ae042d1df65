"""Alignment QA: how well the aligned exposures agree, and a figure for the report."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from astropy import units as u  # noqa: E402
from astropy.coordinates import SkyCoord  # noqa: E402
from astropy.table import Table, vstack  # noqa: E402

from .qa import fixed_margins  # noqa: E402


def match_residuals(exposures, radius_arcsec=0.05) -> Table:
    """For each exposure's sources: offset (mas) from the same source in the other exposures.

    Sources are projected to the sky with each exposure's final WCS and matched to the nearest
    source of every other exposure within ``radius_arcsec``; the residual is the position minus the
    mean of its matches. Columns: exposure, x, y (0-based pixels), d_east, d_north (mas).
    """
    skies = []
    for e in exposures:
        ra, dec = e.wcs(np.asarray(e.catalog["x"]), np.asarray(e.catalog["y"]), with_bounding_box=False)
        skies.append(SkyCoord(ra, dec, unit="deg"))
    tables = []
    for i, e in enumerate(exposures):
        if len(skies[i]) == 0:
            continue
        sum_e = np.zeros(len(skies[i]))
        sum_n = np.zeros(len(skies[i]))
        count = np.zeros(len(skies[i]))
        for j, other in enumerate(skies):
            if j == i or len(other) == 0:
                continue
            idx, sep, _ = skies[i].match_to_catalog_sky(other)
            ok = sep < radius_arcsec * u.arcsec
            de, dn = other[idx].spherical_offsets_to(skies[i])
            sum_e += np.where(ok, de.to_value(u.mas), 0.0)
            sum_n += np.where(ok, dn.to_value(u.mas), 0.0)
            count += ok
        has = count > 0
        tables.append(
            Table(
                {
                    "exposure": np.full(int(has.sum()), e.name),
                    "x": np.asarray(e.catalog["x"])[has],
                    "y": np.asarray(e.catalog["y"])[has],
                    "d_east": (sum_e / np.maximum(count, 1))[has],
                    "d_north": (sum_n / np.maximum(count, 1))[has],
                }
            )
        )
    if not tables:
        return Table(
            names=("exposure", "x", "y", "d_east", "d_north"), dtype=(str, float, float, float, float)
        )
    table = vstack(tables)
    table["d_east"].unit = table["d_north"].unit = "mas"
    return table


def plot_alignment(report: Table, residuals: Table, png_path):
    """Residual vectors per exposure (detector frame) and the applied corrections."""
    names = list(report["exposure"])
    n = len(names)
    cols = min(n, 4)
    rows = int(np.ceil(n / cols)) + 1
    fig = plt.figure(figsize=(3.6 * cols, 3.4 * rows))
    scale = 20.0  # pixels per mas in the arrows
    for k, name in enumerate(names):
        ax = fig.add_subplot(rows, cols, k + 1)
        sel = residuals[residuals["exposure"] == name] if len(residuals) else residuals
        if len(sel):
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
            rms = np.sqrt(np.mean(sel["d_east"] ** 2 + sel["d_north"] ** 2) / 2)
            ax.set_title(f"{name[-24:]}\n{len(sel)} matches, rms {rms:.2f} mas", fontsize=8)
        else:
            ax.set_title(f"{name[-24:]}\nno matches", fontsize=8)
        ax.set_aspect("equal")
        ax.tick_params(labelsize=7)
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
    ax.set_title(f"residual arrows x{scale:.0f} pixels per mas; red: left unaligned", fontsize=9)
    fixed_margins(fig, left=0.6, top=0.55, hspace=0.45)
    fig.savefig(png_path, dpi=80, format="png")
    plt.close(fig)
