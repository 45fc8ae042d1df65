"""tweakreg on a real sky against the simulator's truth: stars with a small saturated core kept,
refilled (tweakreg.small_core_pixels, saturated.refill_small_cores); bright saturated stars and the
detections on their spikes and halos not matched (tweakreg.spike_reach,
saturated.saturated_star_zones); a large galaxy's nucleus left out (tweakreg.max_pedestal,
source_finding.on_extended_light).

The same field is simulated with every artefact (three stars of AB 14-15.5 with saturated cores,
diffraction spikes and halos, 1/f striping, a large galaxy, a sky gradient, a wisp) and without
(same seed: sources, noise and cosmic rays identical); 4 exposures of 512^2 in F150W.

Without the handling, the star finder keeps, in every exposure, the field stars of AB ~18 whose
one or two core pixels saturate (NaN) with centroids 0.13-0.21 pixels (4-7 mas) off, fires on the
bright stars' Airy rings and spikes 5-14 pixels from their cores (those within one visit share the
roll, so they match each other and bias the fit), and keeps the large galaxy's nucleus, a bump on
its broad profile whose centroid moves by 0.1-0.2 pixel from exposure to exposure.

Measured on 8 seeds x the two set-ups below (relative alignment RMS with the artefacts over the
same field without; bench/real_sky_alignment.py; seed 4 is the one tested, and seed 7 with two
visits for the large galaxy):

- no handling: ratio <= 1.1 in 8 of 16, median 1.05, worst 3.15 (seed 4: 1.71 with one roll, 1.52
  with two visits);
- the zones alone (spike_reach 12): <= 1.1 in 10 of 16, median 0.98, worst 1.58 (seed 4: 1.00 and
  0.94; seed 7, two visits: 1.50);
- with the small cores refilled and sources on extended light left out too (the defaults): <= 1.1
  in 11 of 16, median 0.95, worst 1.67 (seed 4: 0.92 and 0.76; seed 7: 0.99).

The five above 1.1 (1.13, 1.23, 1.25, 1.35, 1.67) match no artefact (the third test), and their
small-core stars are centred as if whole (the second): what remains is which sources there are.
The bright stars' zones take the field sources 7-15 pixels from them (seed 3, one roll: 3 of 42
sources per exposure, 1.52 with the saturated stars and spikes alone), and the ratio is noisy at
the tenth level with 30-45 sources per exposure: a sky gradient and a wisp alone, which bias no
centroid but move the detection threshold, give 1.08, 1.14 and 1.16 on seeds 3, 5 and 6 (one roll);
1/f striping alone 1.13, 1.01 and 1.00.
"""

import functools

import numpy as np
import pytest
import simdata
from scipy import ndimage

from image3.simulate.dataset import truth_wcs
from image3.tweakreg import alignment
from image3.tweakreg.qa import match_residuals
from image3.tweakreg.settings import DetectionSettings, FitSettings
from image3.tweakreg.source_finding import find_sources
from image3.utils.psf_width import detection_fwhm

ARTEFACTS = ["saturated_stars", "diffraction_spikes", "one_over_f", "large_galaxy", "gradient", "wisp"]
SETUPS = {"one roll": {"visits": 1}, "two visits 4 deg apart": {"visits": 2, "visit_roll_step_deg": 4.0}}
FWHM = detection_fwhm("F150W", 0.0311)
SEED = 4  # the field tested, but for the large galaxy's (RATIO_LIMITS)


@functools.cache
def _field(setup, artefacts, seed):
    sim = simdata.settings(shape=[512, 512], n_exposures=4, seed=seed, artefacts=artefacts, **SETUPS[setup])
    scene, truth, models, _, arts = simdata.simulate_with_artefacts(sim)
    return scene, truth, models, arts


def _aligned(models, **detection):
    """The exposures with their catalogs (``detection``: DetectionSettings fields), aligned as the
    workflow does (global fit)."""
    exposures = simdata.exposure_catalogs(models, FWHM, DetectionSettings(**detection))
    alignment.align_relative(exposures, FitSettings())
    return exposures


def _rms(models, truth, **kwargs):
    exposures = _aligned(models, **kwargs)
    return simdata.relative_alignment_rms([e.wcs for e in exposures], truth, exposures[0].shape)


# (set-up, seed): the largest ratio of the alignment RMS with the artefacts to the same field's
# without them that passes (see the test's docstring for the figures without the handling).
RATIO_LIMITS = {
    ("one roll", 4): 0.96,
    ("two visits 4 deg apart", 4): 0.85,
    ("two visits 4 deg apart", 7): 1.1,
}
# Stars whose saturated core is at most this many pixels are refilled and kept (the default).
SMALL_CORE_PIXELS = DetectionSettings().small_core_pixels


@pytest.mark.parametrize(("setup", "seed"), RATIO_LIMITS)
def test_alignment_with_artefacts_within_ten_percent_of_clean_sky(setup, seed):
    """Relative alignment RMS with every artefact over the same field's without <= RATIO_LIMITS.

    Seed 4: 0.92 with one roll (0.174 against 0.190 mas), 0.76 with two visits (0.131 against
    0.172): the AB ~18 stars with a one-pixel saturated core kept, refilled; with the zones alone
    (small_core_pixels 0, max_pedestal null) 1.00 and 0.94, with no handling 1.71 and 1.52. Seed
    7, two visits: 0.99, the large galaxy's nucleus left out (max_pedestal); 1.50 with the zones
    alone, 1.49 with the small cores refilled but the nucleus kept.
    """
    _, truth, clean, _ = _field(setup, (), seed)
    _, truth_art, models, _ = _field(setup, tuple(ARTEFACTS), seed)
    reference = _rms(clean, truth)
    assert _rms(models, truth_art) <= RATIO_LIMITS[setup, seed] * reference


def _large_cores(saturated, small_core_pixels=SMALL_CORE_PIXELS):
    """The truth's saturated pixels in cores of more than ``small_core_pixels`` (bright stars)."""
    labels, _ = ndimage.label(saturated, structure=np.ones((3, 3)))
    size = np.bincount(labels.ravel())
    return (labels > 0) & (size[labels] > small_core_pixels)


def _small_core_stars(scene, entry, art, shape, small_core_pixels=SMALL_CORE_PIXELS):
    """True (x, y) (0-based pixels) of the scene's ordinary sources whose own pixel or a neighbour
    is in a saturated core of at most ``small_core_pixels`` pixels (truth)."""
    labels, _ = ndimage.label(art["saturated"], structure=np.ones((3, 3)))
    size = np.bincount(labels.ravel())
    small = np.where((labels > 0) & (size[labels] <= small_core_pixels), labels, 0)
    ordinary = np.asarray(scene["artefact"]) == ""
    sx, sy = truth_wcs(entry, "true", shape).invert(
        np.asarray(scene["ra"])[ordinary], np.asarray(scene["dec"])[ordinary], with_bounding_box=False
    )
    inside = (sx > 2) & (sy > 2) & (sx < shape[1] - 3) & (sy < shape[0] - 3)
    sx, sy = sx[inside], sy[inside]
    ix, iy = np.round(sx).astype(int), np.round(sy).astype(int)
    near = np.zeros(sx.size, bool)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            near |= small[iy + dy, ix + dx] > 0
    return sx[near], sy[near]


def _small_core_errors(scene, truth, models, arts, **detection):
    """Distance (pixels) from each small-core star's true position to the nearest catalog source,
    over the exposures (catalogs from find_sources with ``detection``)."""
    errors = []
    for entry, model, art in zip(truth, models, arts, strict=True):
        sx, sy = _small_core_stars(scene, entry, art, model.data.shape)
        cat = find_sources(model.data, model.dq, FWHM, DetectionSettings(**detection))
        x, y = np.asarray(cat["x"]), np.asarray(cat["y"])
        errors.append(np.hypot(sx[:, None] - x[None], sy[:, None] - y[None]).min(axis=1))
    return np.concatenate(errors)


@pytest.mark.parametrize("setup", SETUPS)
def test_stars_with_a_small_saturated_core_are_kept_and_centred_as_if_whole(setup):
    """Every star whose core lost at most small_core_pixels (4) pixels (here AB ~18 stars with one
    lost pixel: 7 with one roll, 6 with two visits, over the 4 exposures) is in the catalog, its
    centroid 0.013 (one roll) and 0.018 (two visits) pixel RMS from the truth, at most 0.031
    (over 8 seeds x 2 set-ups 0.016 for 63 stars; the same stars unsaturated, in the field without
    artefacts: 0.010). Without the refill (small_core_pixels 0) none is kept (the zones: the
    nearest source 32 pixels or more away); with no handling at all (spike_reach null too) they
    are kept with the hole's bias: 0.189 and 0.185 pixel RMS, at least 0.146."""
    scene, truth, models, arts = _field(setup, tuple(ARTEFACTS), SEED)
    errors = _small_core_errors(scene, truth, models, arts)
    assert errors.size >= 6
    assert errors.max() < 0.05
    assert np.sqrt(np.mean(errors**2)) < 0.03


def _artefact_matches(scene, truth, models, arts, exposures):
    """Sources matched across exposures after alignment (within 0.1 arcsec, the last refit's
    tolerance) that the truth calls artefacts: a saturated pixel within 2 FWHM (a biased centroid),
    or no scene source within 0.5 pixel (the bright stars themselves excepted) where the truth's
    spikes and halo exceed the sky's pixel noise (a spike or ring knot). Returns their count."""
    matched = match_residuals(exposures, radius_arcsec=0.1)
    ordinary = np.asarray(scene["artefact"]) != "bright_star"
    count = 0
    for k, (e, model, art) in enumerate(zip(exposures, models, arts, strict=True)):
        rows = matched[matched["exposure"] == e.name]
        x, y = np.asarray(rows["x"]), np.asarray(rows["y"])
        sx, sy = truth_wcs(truth[k], "true", model.data.shape).invert(
            np.asarray(scene["ra"])[ordinary], np.asarray(scene["dec"])[ordinary], with_bounding_box=False
        )
        nearest = np.hypot(x[:, None] - sx[None], y[:, None] - sy[None]).min(axis=1)
        sy_, sx_ = np.nonzero(_large_cores(art["saturated"]))
        near_saturated = np.hypot(x[:, None] - sx_[None], y[:, None] - sy_[None]).min(axis=1) < 2 * FWHM
        noise = np.nanmedian(model.err)
        on_wings = art["wings"][np.round(y).astype(int), np.round(x).astype(int)] > noise
        count += int(np.sum(near_saturated | ((nearest > 0.5) & on_wings)))
    return count


@pytest.mark.parametrize("setup", SETUPS)
def test_no_saturated_star_or_spike_detection_is_matched(setup):
    """With the artefacts, no source matched across the aligned exposures is a bright saturated
    star (a core of more than small_core_pixels) or a knot on a spike or halo (truth); the stars
    with small cores, refilled, are matched (the test above). Before the zones, 7 saturated
    stars and knots were matched with one roll and 7 with two visits (the AB ~18 stars with their
    hole-biased centroids); over the 8 seeds x 2 set-ups 0-9 each, 48 such stars and 6 knots in
    all."""
    scene, truth, models, arts = _field(setup, tuple(ARTEFACTS), SEED)
    assert sum(a["saturated"].any() for a in arts) == len(arts)
    assert _artefact_matches(scene, truth, models, arts, _aligned(models)) == 0


def test_saturated_star_zone_radius_grows_as_the_core_radius_to_the_power_one_and_a_half():
    """A core of n NaN pixels flagged SATURATED + DO_NOT_USE excludes every pixel within
    spike_reach * fwhm * (sqrt(n / pi) / fwhm)^1.5 of it; a snowball's SATURATED pixels that keep
    a value (no DO_NOT_USE) are no core, and spike_reach None keeps everything."""
    from image3.io.dq import DQ_FLAGS
    from image3.tweakreg.saturated import saturated_cores, saturated_star_zones

    data, dq = np.zeros((200, 200)), np.zeros((200, 200), np.uint32)
    lost = DQ_FLAGS["SATURATED"] | DQ_FLAGS["DO_NOT_USE"]
    data[50, 50], dq[50, 50] = np.nan, lost  # one pixel
    data[140:144, 140:144], dq[140:144, 140:144] = np.nan, lost  # 16 pixels
    dq[50:53, 150:153] = DQ_FLAGS["SATURATED"] | DQ_FLAGS["JUMP_DET"]  # a snowball
    cores = saturated_cores(data, dq)
    zones = saturated_star_zones(cores, 2.0, 12.0)
    for (row, last_column), n in (((50, 50), 1), ((141, 143), 16)):  # radius 3.6 and 28.8 pixels
        radius = int(12.0 * 2.0 * (np.sqrt(n / np.pi) / 2.0) ** 1.5)
        assert zones[row, last_column + radius] and not zones[row, last_column + radius + 1]
    assert not zones[40:70, 140:170].any()
    assert not cores[50:53, 150:153].any()
    assert not saturated_star_zones(cores, 2.0, None).any()
