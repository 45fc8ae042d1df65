"""tweakreg on a real sky: saturated stars and the detections on their spikes and halos are not
matched (tweakreg.spike_reach, source_finding.saturated_star_zones), against the simulator's truth.

The same field is simulated with every artefact (three stars of AB 14-15.5 with saturated cores,
diffraction spikes and halos, 1/f striping, a large galaxy, a sky gradient, a wisp) and without
(same seed: sources, noise and cosmic rays identical); 4 exposures of 512^2 in F150W.

Without the handling, the star finder keeps, in every exposure, the field stars of AB ~18 whose
one or two core pixels saturate (NaN) with centroids 0.13-0.21 pixels (4-7 mas) off, and fires on
the bright stars' Airy rings and spikes 5-14 pixels from their cores; those within one visit share
the roll, so they match each other and bias the fit.

Measured on 8 seeds x the two set-ups below (relative alignment RMS with the artefacts over the
same field without; seed 4 is the one tested):

- without the handling: ratio <= 1.1 in 8 of 16, median 1.05, worst 3.15 (seed 4: 1.71 with one
  roll, 1.52 with two visits: 0.325 and 0.262 mas against 0.190 and 0.172 mas);
- with it (spike_reach 12): <= 1.1 in 10 of 16, median 0.98, worst 1.58 (seed 4: 1.00 and 0.94).

What remains above 1.1 is not the artefacts being matched (none is, on any of the 16: the second
test) but what they take away: the AB ~18 stars, the best-measured sources of the clean field,
saturate and are left out, and 1/f striping raises the detection threshold (about 10 % fewer
sources).
"""

import functools

import numpy as np
import pytest
import simdata

from image3.io.exposure_groups import exposure_group
from image3.simulate.dataset import truth_wcs
from image3.tweakreg import alignment
from image3.tweakreg.qa import match_residuals
from image3.tweakreg.settings import DetectionSettings, FitSettings
from image3.tweakreg.source_finding import find_sources
from image3.utils.psf_width import detection_fwhm

ARTEFACTS = ["saturated_stars", "diffraction_spikes", "one_over_f", "large_galaxy", "gradient", "wisp"]
SETUPS = {"one roll": {"visits": 1}, "two visits 4 deg apart": {"visits": 2, "visit_roll_step_deg": 4.0}}
FWHM = detection_fwhm("F150W", 0.0311)


@functools.cache
def _field(setup, artefacts):
    sim = simdata.settings(shape=[512, 512], n_exposures=4, seed=4, artefacts=artefacts, **SETUPS[setup])
    scene, truth, models, _, arts = simdata.simulate_with_artefacts(sim)
    return scene, truth, models, arts


def _aligned(models, spike_reach=12.0):
    """The exposures with their catalogs, aligned as the workflow does (global fit)."""
    exposures = []
    for m in models:
        info = m.meta.wcsinfo
        exposures.append(
            alignment.ExposureCatalog(
                m.meta.filename,
                exposure_group(m.meta, m.meta.filename),
                m.meta.wcs,
                {"v2_ref": info.v2_ref, "v3_ref": info.v3_ref, "roll_ref": info.roll_ref},
                find_sources(m.data, m.dq, FWHM, DetectionSettings(spike_reach=spike_reach)),
                m.data.shape,
            )
        )
    alignment.align_relative(exposures, FitSettings())
    return exposures


def _rms(models, truth, **kwargs):
    exposures = _aligned(models, **kwargs)
    return simdata.relative_alignment_rms([e.wcs for e in exposures], truth, exposures[0].shape)


@pytest.mark.parametrize("setup", SETUPS)
def test_alignment_with_artefacts_within_ten_percent_of_clean_sky(setup):
    """Relative alignment RMS with every artefact <= 1.1 x the same field's without (seed 4: 0.189
    against 0.190 mas with one roll, 0.162 against 0.172 with two visits; without the handling
    0.325 and 0.262 mas)."""
    _, truth, clean, _ = _field(setup, ())
    _, truth_art, models, _ = _field(setup, tuple(ARTEFACTS))
    reference = _rms(clean, truth)
    assert _rms(models, truth_art) <= 1.1 * reference


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
        sy_, sx_ = np.nonzero(art["saturated"])
        near_saturated = np.hypot(x[:, None] - sx_[None], y[:, None] - sy_[None]).min(axis=1) < 2 * FWHM
        noise = np.nanmedian(model.err)
        on_wings = art["wings"][np.round(y).astype(int), np.round(x).astype(int)] > noise
        count += int(np.sum(near_saturated | ((nearest > 0.5) & on_wings)))
    return count


@pytest.mark.parametrize("setup", SETUPS)
def test_no_saturated_star_or_spike_detection_is_matched(setup):
    """With the artefacts, no source matched across the aligned exposures is a saturated star or
    a knot on a spike or halo (truth). Without the handling 7 are, with one roll and with two
    visits (saturated AB ~18 stars); over the 8 seeds x 2 set-ups 0-9 each, 48 saturated stars
    and 6 knots in all, and none in any with it."""
    scene, truth, models, arts = _field(setup, tuple(ARTEFACTS))
    assert sum(a["saturated"].any() for a in arts) == len(arts)
    assert _artefact_matches(scene, truth, models, arts, _aligned(models)) == 0


def test_saturated_star_zone_radius_grows_as_the_core_radius_to_the_power_one_and_a_half():
    """A core of n NaN pixels flagged SATURATED + DO_NOT_USE excludes every pixel within
    spike_reach * fwhm * (sqrt(n / pi) / fwhm)^1.5 of it; a snowball's SATURATED pixels that keep
    a value (no DO_NOT_USE) exclude nothing, and spike_reach None keeps everything."""
    from image3.io.dq import DQ_FLAGS
    from image3.tweakreg.source_finding import saturated_star_zones

    data, dq = np.zeros((200, 200)), np.zeros((200, 200), np.uint32)
    lost = DQ_FLAGS["SATURATED"] | DQ_FLAGS["DO_NOT_USE"]
    data[50, 50], dq[50, 50] = np.nan, lost  # one pixel
    data[140:144, 140:144], dq[140:144, 140:144] = np.nan, lost  # 16 pixels
    dq[50:53, 150:153] = DQ_FLAGS["SATURATED"] | DQ_FLAGS["JUMP_DET"]  # a snowball
    zones = saturated_star_zones(data, dq, 2.0, 12.0)
    for (row, last_column), n in (((50, 50), 1), ((141, 143), 16)):  # radius 3.6 and 28.8 pixels
        radius = int(12.0 * 2.0 * (np.sqrt(n / np.pi) / 2.0) ** 1.5)
        assert zones[row, last_column + radius] and not zones[row, last_column + radius + 1]
    assert not zones[40:70, 140:170].any()
    assert not saturated_star_zones(data, dq, 2.0, None).any()
