"""The source catalog on real skies (issue #28) against the simulator's truth: saturated stars with
diffraction spikes and halos, a large galaxy and 1/f striping, for dithers of one roll and for two
visits 4 degrees apart in roll.

Mosaics of 4 aligned exposures of 512^2 (16 arcsec) without cosmic rays, drizzled in memory as the
workflow does (true WCS and sky levels); the large galaxy's effective radius is 0.9-1.1 arcsec
(``large_galaxy_r_eff``; the default 2-4 arcsec does not fit in 16 arcsec). One test puts a galaxy
of 3.3 arcsec on a mosaic of one exposure of 1024^2 (32 arcsec).
"""

import functools

import numpy as np
import pytest
import simdata
from astropy.coordinates import SkyCoord
from photutils.aperture import EllipticalAperture

from image3.io.product_meta import SipSettings
from image3.resample.grid import make_grid
from image3.resample.i2d import build_i2d
from image3.resample.settings import DrizzleSettings
from image3.simulate.artefacts import MAX_WING_ARCSEC
from image3.simulate.psf import PixelIntegratedPSF
from image3.simulate.scene import galaxy_stamp
from image3.source_catalog import catalog
from image3.source_catalog.catalog import BandImage, single_band_catalog
from image3.source_catalog.saturation import SATURATED
from image3.source_catalog.settings import CatalogSettings

SETTINGS = CatalogSettings()
REAL_SKY = ["saturated_stars", "diffraction_spikes", "one_over_f", "large_galaxy"]
MATCH_ARCSEC = 0.15  # an entry within this of a true source is that source
GALAXY_MATCH_ARCSEC = 0.3  # the large galaxy's centroid (a profile tens of pixels wide)


@functools.cache
def _mosaic(visits, artefacts, n_exposures=4):
    """(scene, BandImage) of ``n_exposures`` aligned exposures of 512^2 with ``artefacts`` (a
    tuple) in ``visits`` visits 4 degrees apart in roll."""
    sim = simdata.settings(
        shape=[512, 512],
        n_exposures=n_exposures,
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
    its wings' reach (``MAX_WING_ARCSEC``) at most 2 entries match no true source (0 measured).

    Without the handling (the hole left as no data) the three stars had no entry at all: their
    segments peak beside the hole and were dropped as cut by the data's edge (1 and 2 visits);
    entries matching no true source within their reach: 1, 1, 0."""
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


@pytest.mark.parametrize("visits", [1, 2])
def test_large_galaxy_is_one_entry_with_its_total_flux(visits):
    """The large galaxy (AB 16, Sersic n 1.84, effective radius 1.05 arcsec = 34 pixels, among the
    saturated stars and the striping) is one entry: one within 0.3 arcsec of its centre (0.045 and
    0.033 arcsec off) and none within 3 effective radii that matches no true source; its
    ``kron_total_flux`` is within 5 % of the truth (measured: 1.027 with one roll and with two
    visits; 0.996 and 0.991 on the catalog's background map, 24 mJy/sr above the true sky, where
    the total-flux sky is 7.7 and 7.1: the saturated stars' halos fill this small field).

    Without the handling: one entry more (a star of AB 22.6 beside a galaxy of AB 20.2 on the
    galaxy's wings, whose watershed segment of 1150 pixels pulled its centroid 0.43 arcsec uphill;
    in the real-sky demo 13 such entries on its galaxy), and ``kron_flux`` (the Kron ellipse at
    photutils' and the official scale of 2.5) holds 0.913 and 0.909 of the truth: it misses the
    wings of a profile more extended than exponential."""
    scene, band = _mosaic(visits, tuple(REAL_SKY))
    table, _ = single_band_catalog(band, SETTINGS)
    (galaxy,) = _artefact(scene, "large_galaxy")
    sep = table["sky_centroid"].separation(SkyCoord(galaxy["ra"], galaxy["dec"], unit="deg")).arcsec
    assert (sep < GALAXY_MATCH_ARCSEC).sum() == 1, np.sort(sep)[:3]
    assert not (_unmatched(table, scene) & (sep < 3 * galaxy["r_eff"])).any()
    entry = table[np.argmin(sep)]
    assert not entry["flags"]
    ratio = entry["kron_total_flux"].value / galaxy["flux_jy"]
    assert abs(ratio - 1) < 0.05, (ratio, entry["kron_flux"].value / galaxy["flux_jy"])


def test_one_over_f_striping_adds_no_spurious_entries():
    """The same field (two dithers of one roll, so that the striping is averaged down less than
    in the other tests) with and without 1/f striping (``one_over_f_rms`` 0.5 x the sky's pixel
    noise): no more entries matching no true source with the striping than without (0 and
    0 measured), and the stars' catalog is the same (every isolated star of AB 16-24 matched in
    one is matched in the other). Nothing in the catalog handles striping: drizzling dithered
    exposures averages it down and the detection threshold is set by the measured background
    RMS, which includes it."""
    spurious, found = [], []
    for artefacts in ((), ("one_over_f",)):
        scene, band = _mosaic(1, artefacts, n_exposures=2)
        table, _ = single_band_catalog(band, SETTINGS)
        spurious.append(_unmatched(table, scene).sum())
        stars = scene[(np.asarray(scene["type"]) == "star") & (np.asarray(scene["mag_ab"]) < 24)]
        stars = SkyCoord(stars["ra"], stars["dec"], unit="deg")
        _, sep, _ = stars.match_to_catalog_sky(table["sky_centroid"])
        found.append(sep.arcsec < MATCH_ARCSEC)
    assert spurious[1] <= spurious[0], spurious
    assert found[0].sum() > 20 and (found[0] == found[1]).mean() > 0.95, (found[0].sum(), found[1].sum())


@functools.cache
def _wide_field():
    """(scene, catalog) of one exposure of 1024^2 (32 arcsec) with a large galaxy of AB 16 and
    effective radius 3.0-3.5 arcsec among the usual field of stars and galaxies, the sky taken off
    as a perfect skymatch would (the true level)."""
    sim = simdata.settings(
        shape=[1024, 1024],
        n_exposures=1,
        pointing_shift_arcsec=[0.0, 0.0],
        pointing_roll_deg=0.0,
        cosmic_ray_rate=0.0,
        artefacts=["large_galaxy"],
        large_galaxy_r_eff=[3.0, 3.5],
    )
    scene, truth, models, _, _ = simdata.simulate_with_artefacts(sim)
    model, entry = models[0], truth[0]
    model.meta.background.level = entry["sky_level"]
    model.meta.background.subtracted = False
    arrays, grid = simdata.drizzle(
        models, make_grid([(simdata.true_wcs(entry, model.data.shape), model.data.shape)])
    )
    exptime = model.meta.exposure.exposure_time
    i2d = build_i2d(arrays, grid, model, DrizzleSettings(), 1, exptime, 0.0311, SipSettings())
    table, _ = single_band_catalog(BandImage.from_model(i2d), SETTINGS)
    return scene, table


def test_large_galaxy_on_a_wide_field_has_its_total_flux():
    """A large galaxy (AB 16, Sersic n 1.12, effective radius 3.28 arcsec = 105 pixels, axis ratio
    0.69, its profile drawn to 6 effective radii) among the usual field of stars and galaxies on a
    mosaic of one exposure of 1024^2 (32 arcsec), the sky taken off as a perfect skymatch would
    (the true level): its ``kron_total_flux`` is within 5 % of the truth (measured: 1.022).

    Without the handling: 0.861 (``kron_flux``, at 2.5 Kron radii: 0.823). The catalog's
    background map is 10.3 mJy/sr above the true sky (the galaxy's wings fill the box; the
    total-flux sky: -0.3), which stops the Kron growth early (0.922 with the rest of the handling);
    18 % of the galaxy's light lies in the segments of the sources on its wings, which photutils'
    mirror-image correction fills only in part (0.855 with them counted zero); and the galaxy's own
    segment, cut unevenly by theirs, has its centroid 18 pixels from the galaxy's centre (0.987
    centred there)."""
    scene, table = _wide_field()
    (galaxy,) = _artefact(scene, "large_galaxy")
    assert galaxy["r_eff"] > 3.0
    sep = table["sky_centroid"].separation(SkyCoord(galaxy["ra"], galaxy["dec"], unit="deg")).arcsec
    assert (sep < GALAXY_MATCH_ARCSEC).sum() == 1, np.sort(sep)[:3]
    ratio = table[np.argmin(sep)]["kron_total_flux"].value / galaxy["flux_jy"]
    assert abs(ratio - 1) < 0.05, ratio


def test_sources_on_a_large_galaxy_are_measured_without_its_light():
    """The field's stars and galaxies of AB < 24 within 20 arcsec of the large galaxy of
    :func:`_wide_field` (its light under every one of them; matched to the truth within 0.15
    arcsec): their ``kron_total_flux`` is on average within 5 % of their true flux (measured:
    0.988 over 117 sources, median 0.966; beyond 20 arcsec, 25 sources: 1.003).

    Without the handling (the galaxy's light model taken off under them, its pixels their sky):
    4.51 (median 0.975; beyond 20 arcsec 0.993), and 5.30 with the rest of the handling: the
    total-flux sky is the sky around the sources, and each Kron ellipse on the galaxy holds the
    galaxy's light, the more so where deblending gives a faint source a broad watershed piece of
    it (a galaxy of AB 21.1, 2 arcsec from the centre: 62 times its flux; 2.6 with the handling)."""
    scene, table = _wide_field()
    (galaxy,) = _artefact(scene, "large_galaxy")
    centre = SkyCoord(galaxy["ra"], galaxy["dec"], unit="deg")
    field = scene[(np.asarray(scene["artefact"]) == "") & (np.asarray(scene["mag_ab"]) < 24)]
    idx, sep, _ = table["sky_centroid"].match_to_catalog_sky(SkyCoord(field["ra"], field["dec"], unit="deg"))
    near = table["sky_centroid"].separation(centre).arcsec
    on = (sep.arcsec < MATCH_ARCSEC) & (near < 20) & (near > GALAXY_MATCH_ARCSEC)
    ratio = table["kron_total_flux"].value[on] / np.asarray(field["flux_jy"])[idx[on]]
    assert on.sum() > 50
    assert abs(np.mean(ratio) - 1) < 0.05, (np.mean(ratio), np.median(ratio), on.sum())


def test_filled_aperture_follows_a_galaxy_whose_isophotes_are_not_its_ellipse():
    """A galaxy's light in its total-flux aperture (:func:`catalog._filled_aperture_flux`) where
    its segment is cut by watershed pieces of other sources holding 17 % of that light, near its
    centre and off the aperture's major axis, and the aperture's ellipse is not the galaxy's (axis
    ratio 0.58 against 0.8, 10 degrees off), as a large galaxy's moments give it on the real-sky
    demo: the simulator's noise-free Sersic galaxy (n 1.84, effective radius 1 arcsec), the
    pieces filled from the galaxy's own pixels, holds the aperture's true light within 2 %
    (measured: 0.990).

    Without the handling (the pieces filled with the mean of each elliptical ring, not of its
    sectors): 0.965. The real-sky demo's galaxy (AB 16, r_eff 3.5") then had 0.921 of its flux,
    0.961 with it."""
    scale = 0.0311
    source = {"r_eff": 1.0, "sersic_n": 1.84, "axis_ratio": 0.8, "pa": 30.0}
    jacobian = np.array([[-scale, 0.0], [0.0, scale]])  # east = -x, north = +y
    psf = PixelIntegratedPSF("F150W", scale)
    image = galaxy_stamp(source, jacobian, psf.kernel(1), 1, scale, 0.0, 0.0)
    centre = image.shape[0] // 2
    rows, cols = np.mgrid[: image.shape[0], : image.shape[1]]
    segm = np.ones(image.shape, int)
    # (distance, angle from +x in degrees, radius) in pixels
    pieces = [(30, 40, 18), (60, 30, 20), (40, 220, 18), (70, 215, 22), (35, 130, 12), (95, 50, 20)]
    pieces.append((100, 230, 20))
    for label, (distance, angle, radius) in enumerate(pieces, start=2):
        x = centre + distance * np.cos(np.deg2rad(angle))
        y = centre + distance * np.sin(np.deg2rad(angle))
        segm[np.hypot(cols - x, rows - y) < radius] = label
    # the galaxy's major axis lies 120 degrees from +x (Sersic2D's 90 + PA, x = west)
    r_eff = source["r_eff"] / scale
    aperture = EllipticalAperture((centre, centre), 4.5 * r_eff, 0.58 * 4.5 * r_eff, theta=np.deg2rad(130.0))
    weights = aperture.to_mask(method="exact").to_image(image.shape)
    truth = (weights * image).sum()
    assert 0.15 < (weights * image)[segm > 1].sum() / truth < 0.2
    flux, _ = catalog._filled_aperture_flux(
        aperture, 1, image, np.zeros_like(image), np.zeros(image.shape, bool), segm
    )
    assert abs(flux / truth - 1) < 0.02, flux / truth
