"""The simulated sky: stars and Sersic galaxies at known positions and AB magnitudes.

Fluxes are in Jy (AB zero point 3631 Jy); positions in degrees (ICRS); galaxy effective radii in
arcsec along the major axis; position angles in degrees east of north.
"""

import numpy as np
from astropy.modeling.models import Sersic2D
from astropy.table import Table
from astropy.wcs import WCS
from scipy import signal

__all__ = ["AB_ZEROPOINT_JY", "ab_to_jy", "galaxy_stamp", "make_scene", "make_scene_rows", "point_source"]

AB_ZEROPOINT_JY = 3631.0


def ab_to_jy(mag):
    """AB magnitude -> flux density in Jy."""
    return AB_ZEROPOINT_JY * 10 ** (-0.4 * np.asarray(mag))


def _tangent_plane(ra0, dec0):
    """A TAN projection centred on (ra0, dec0) whose 'pixels' are arcsec offsets (x east, y north)."""
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = [ra0, dec0]
    w.wcs.crpix = [0.0, 0.0]
    w.wcs.cdelt = [-1 / 3600.0, 1 / 3600.0]
    return w


def make_scene(rng, ra0, dec0, half_width_arcsec, star_density, galaxy_density, star_mags, gal_mags):
    """Random stars and galaxies over a square of ``2 * half_width_arcsec`` around (ra0, dec0).

    Densities are per square arcmin. Returns an astropy Table with columns id, type, ra, dec (deg),
    mag_ab, flux_jy, and for galaxies sersic_n, r_eff (arcsec), axis_ratio, pa (deg); stars carry
    zeros there; ``artefact`` is empty (see ``artefacts.artefact_sources``).
    """
    area_arcmin2 = (2 * half_width_arcsec / 60.0) ** 2
    n_star = rng.poisson(star_density * area_arcmin2)
    n_gal = rng.poisson(galaxy_density * area_arcmin2)
    n = n_star + n_gal
    x, y = rng.uniform(-half_width_arcsec, half_width_arcsec, (2, n))
    ra, dec = _tangent_plane(ra0, dec0).wcs_pix2world(x, y, 0)
    is_star = np.arange(n) < n_star
    mag = np.where(is_star, rng.uniform(*star_mags, n), rng.uniform(*gal_mags, n))
    table = Table(
        {
            "id": np.arange(1, n + 1),
            "type": np.where(is_star, "star", "galaxy"),
            "ra": ra,
            "dec": dec,
            "mag_ab": mag,
            "flux_jy": ab_to_jy(mag),
            "sersic_n": np.where(is_star, 0.0, rng.uniform(0.7, 4.0, n)),
            "r_eff": np.where(is_star, 0.0, np.exp(rng.uniform(np.log(0.06), np.log(0.4), n))),
            "axis_ratio": np.where(is_star, 1.0, rng.uniform(0.3, 1.0, n)),
            "pa": np.where(is_star, 0.0, rng.uniform(0.0, 180.0, n)),
            "artefact": np.full(n, "", "U12"),
        }
    )
    return _with_units(table)


def make_scene_rows(rows, ra0, dec0, first_id=1):
    """A scene table (the columns of :func:`make_scene`) of ``rows``: dicts with ``type``,
    ``artefact``, ``mag_ab``, the position ``x``, ``y`` in arcsec from (ra0, dec0) on the tangent
    plane there (the axes of :func:`make_scene`'s offsets), and for galaxies ``sersic_n``,
    ``r_eff``, ``axis_ratio``, ``pa``."""
    x = np.array([r["x"] for r in rows], float)
    y = np.array([r["y"] for r in rows], float)
    ra, dec = _tangent_plane(ra0, dec0).wcs_pix2world(x, y, 0) if rows else (x, y)
    mag = np.array([r["mag_ab"] for r in rows], float)
    table = Table(
        {
            "id": np.arange(first_id, first_id + len(rows)),
            "type": np.array([r["type"] for r in rows], "U6"),
            "ra": ra,
            "dec": dec,
            "mag_ab": mag,
            "flux_jy": ab_to_jy(mag),
            "sersic_n": np.array([r.get("sersic_n", 0.0) for r in rows], float),
            "r_eff": np.array([r.get("r_eff", 0.0) for r in rows], float),
            "axis_ratio": np.array([r.get("axis_ratio", 1.0) for r in rows], float),
            "pa": np.array([r.get("pa", 0.0) for r in rows], float),
            "artefact": np.array([r["artefact"] for r in rows], "U12"),
        }
    )
    return _with_units(table)


def _with_units(table):
    table["ra"].unit = table["dec"].unit = table["pa"].unit = "deg"
    table["r_eff"].unit = "arcsec"
    table["flux_jy"].unit = "Jy"
    table["mag_ab"].unit = "mag(AB)"
    return table


def point_source(ra, dec, flux_jy, source_id=0):
    """A one-row scene table (the columns of :func:`make_scene`) holding a star-like point source."""
    table = Table(
        {
            "id": [source_id],
            "type": ["star"],
            "ra": [float(ra)],
            "dec": [float(dec)],
            "mag_ab": [float(-2.5 * np.log10(flux_jy / AB_ZEROPOINT_JY))],
            "flux_jy": [float(flux_jy)],
            "sersic_n": [0.0],
            "r_eff": [0.0],
            "axis_ratio": [1.0],
            "pa": [0.0],
            "artefact": [""],
        }
    )
    return _with_units(table)


def galaxy_stamp(source, jacobian, psf_kernel, oversample, pixel_scale, dx, dy):
    """Pixel-integrated, PSF-convolved Sersic galaxy, as flux fractions on a square stamp.

    ``jacobian`` maps a detector pixel offset to an (east, north) offset in arcsec at the galaxy's
    position; ``psf_kernel`` is the PSF sampled at ``oversample`` points per pixel; (dx, dy) is the
    galaxy's sub-pixel offset from the stamp's centre pixel. The profile is truncated at 6 effective
    radii and the stamp normalised to 1.
    """
    radius = int(np.ceil(6 * source["r_eff"] / pixel_scale)) + psf_kernel.shape[0] // (2 * oversample)
    n = 2 * radius + 1
    sub = (np.arange(n * oversample) + 0.5) / oversample - 0.5 - radius
    gx, gy = np.meshgrid(sub - dx, sub - dy)
    east = jacobian[0, 0] * gx + jacobian[0, 1] * gy
    north = jacobian[1, 0] * gx + jacobian[1, 1] * gy
    # Sersic2D's theta is measured from +x counter-clockwise; on the sky (x = east would be to the
    # left) a PA east of north is an angle of 90 + PA from the west axis; use x = west = -east.
    profile = Sersic2D(
        amplitude=1.0,
        r_eff=source["r_eff"],
        n=source["sersic_n"],
        x_0=0.0,
        y_0=0.0,
        ellip=1.0 - source["axis_ratio"],
        theta=np.deg2rad(90.0 + source["pa"]),
    )
    image = profile(-east, north)
    image[np.hypot(east, north) > 6 * source["r_eff"]] = 0.0
    image = signal.fftconvolve(image, psf_kernel, mode="same")
    binned = image.reshape(n, oversample, n, oversample).sum(axis=(1, 3))
    binned = np.clip(binned, 0.0, None)
    return binned / binned.sum()
