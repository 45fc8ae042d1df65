"""The source catalog on real skies (issue #28) against the simulator's truth: saturated stars with
diffraction spikes and halos, a large galaxy and 1/f striping, for dithers of one roll and for two
visits 4 degrees apart in roll.

Mosaics of 4 aligned exposures of 512^2 (16 arcsec) without cosmic rays, drizzled in memory as the
workflow does (true WCS and sky levels); the large galaxy's effective radius is 0.9-1.1 arcsec
(``large_galaxy_r_eff``; the default 2-4 arcsec does not fit in 16 arcsec).
"""

import functools

import numpy as np
import pytest
import simdata
from astropy.coordinates import SkyCoord

from image3.io.product_meta import SipSettings
from image3.resample.grid import make_grid
from image3.resample.i2d import build_i2d
from image3.resample.settings import DrizzleSettings
from image3.simulate.artefacts import MAX_WING_ARCSEC
from image3.source_catalog.catalog import BandImage, single_band_catalog
from image3.source_catalog.saturation import SATURATED
from image3.source_catalog.settings import CatalogSettings

SETTINGS = CatalogSettings()
REAL_SKY = ["saturated_stars", "diffraction_spikes", "one_over_f", "large_galaxy"]
MATCH_ARCSEC = 0.15  # an entry within this of a true source is that source
GALAXY_MATCH_ARCSEC = 0.3  # the large galaxy's centroid (a profile tens of pixels wide)


@functools.cache
def _mosaic(visits, artefacts):
    """(scene, BandImage) of 4 aligned exposures of 512^2 with ``artefacts`` (a tuple) in
    ``visits`` visits 4 degrees apart in roll."""
    sim = simdata.settings(
        shape=[512, 512],
        n_exposures=4,
        visits=visits,
        visit_roll_step_deg=4.0 if visits > 1 else 0.0,
        pointing_shift_arcsec=[0.0, 0.0],
        pointing_roll_deg=0.0,
        cosmic_ray_rate=0.0,
        artefacts=list(artefacts),
        large_galaxy_r_eff=[0.9, 1.1],
    )
    scene, truth, models, _, _ = simdata.simulate_with_artefacts(sim)
    for model, entry in zip(models, truth, strict=True):
        model.meta.background.level = entry["sky_level"]
        model.meta.background.subtracted = False
    grid = make_grid(
        [(simdata.true_wcs(e, m.data.shape), m.data.shape) for m, e in zip(models, truth, strict=True)]
    )
    arrays, grid = simdata.drizzle(models, grid)
    exptime = sum(m.meta.exposure.exposure_time for m in models)
    i2d = build_i2d(arrays, grid, models[0], DrizzleSettings(), len(models), exptime, 0.0311, SipSettings())
    return scene, BandImage.from_model(i2d)


def _artefact(scene, name):
    return scene[np.asarray(scene["artefact"]) == name]


def _unmatched(table, scene):
    """Entries matching no true source: none within ``MATCH_ARCSEC`` (the large galaxy:
    ``GALAXY_MATCH_ARCSEC``)."""
    sources = SkyCoord(scene["ra"], scene["dec"], unit="deg")
    reach = np.where(np.asarray(scene["artefact"]) == "large_galaxy", GALAXY_MATCH_ARCSEC, MATCH_ARCSEC)
    idx, sep, _ = table["sky_centroid"].match_to_catalog_sky(sources)
    # the nearest source may be a point source beside the galaxy's centre: test the galaxy too
    galaxy = _artefact(scene, "large_galaxy")
    unmatched = sep.arcsec > reach[idx]
    for row in galaxy:
        near = table["sky_centroid"].separation(SkyCoord(row["ra"], row["dec"], unit="deg")).arcsec
        unmatched &= near > GALAXY_MATCH_ARCSEC
    return unmatched


@pytest.mark.parametrize("visits", [1, 2])
def test_saturated_stars_are_one_flagged_entry_each_without_chains(visits):
    """Each saturated star (AB 14-15.5; its core a hole of no data in the mosaic) is one entry
    within 0.02 arcsec of its true position, flagged ``flags & SATURATED``, with NaN fluxes; within
    its wings' reach (``MAX_WING_ARCSEC``) at most 2 entries match no true source.

    Without the handling (the hole left as no data) the three stars had no entry at all: their
    segments peak beside the hole and were dropped as cut by the data's edge (1 and 2 visits)."""
    scene, band = _mosaic(visits, tuple(REAL_SKY))
    table, _ = single_band_catalog(band, SETTINGS)
    stars = _artefact(scene, "bright_star")
    assert len(stars) == 3
    unmatched = _unmatched(table, scene)
    for star in stars:
        sep = table["sky_centroid"].separation(SkyCoord(star["ra"], star["dec"], unit="deg")).arcsec
        own = sep < MATCH_ARCSEC
        assert own.sum() == 1, (star["mag_ab"], np.sort(sep)[:3])
        entry = table[own][0]
        assert sep[own][0] < 0.02, sep[own]
        assert entry["flags"] & SATURATED
        for name in ("aper_total_flux", "aper70_flux", "isophotal_flux", "kron_flux", "aper_total_abmag"):
            assert np.isnan(entry[name].value), name
        assert not entry["is_extended"]
        extra = unmatched & (sep < MAX_WING_ARCSEC)
        assert extra.sum() <= 2, (star["mag_ab"], sep[extra])
    others = (table["flags"] & SATURATED) > 0
    assert others.sum() >= 3
    assert np.isfinite(table["aper_total_flux"][~others].value).all()
