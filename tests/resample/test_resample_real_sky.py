"""resample on a real sky: the mosaic's NaN holes are exactly where every exposure is saturated.

Saturated star cores are NaN in SCI with DQ SATURATED | DO_NOT_USE; drizzle gives them weight 0,
so a mosaic pixel has no value only where every exposure that covers it lost its pixels there.
resample already behaves so (no code was needed for issue #28): these tests document and guard it
against the simulator's truth (``arts[k]["saturated"]``, the pixels without a slope).
"""

import numpy as np
import pytest
import simdata

from image3.io.dq import DQ_FLAGS
from image3.resample.drizzle import VARIANCES, coverage_count
from image3.simulate.dataset import truth_wcs

REACH = 1.05  # pixels: how far from an output pixel's centre its input pixels' centres may lie
HOLES = 5  # mosaic pixels that no exposure's good pixel reaches, at least (the bright stars' cores)
ARTEFACTS = ["saturated_stars", "diffraction_spikes", "one_over_f", "large_galaxy", "gradient", "wisp"]


@pytest.fixture(scope="module")
def saturated_field():
    """4 dithers of 320^2 with every artefact (three stars of AB 14-15.5 whose cores saturate,
    and field stars of AB ~18 saturating a pixel or two), two visits 4 degrees apart in roll, no
    pointing errors (the files' WCS is the truth) and no hot or dead pixels, so DO_NOT_USE is
    exactly the saturated pixels."""
    sim = simdata.settings(
        shape=[320, 320],
        n_exposures=4,
        visits=2,
        visit_roll_step_deg=4.0,
        artefacts=ARTEFACTS,
        pointing_shift_arcsec=[0.0, 0.0],
        pointing_roll_deg=0.0,
        bad_pixel_fraction=0.0,
    )
    scene, truth, models, _, arts = simdata.simulate_with_artefacts(sim)
    arrays, grid = simdata.drizzle(models)
    return truth, models, arts, arrays, grid


def _lost_per_exposure(truth, models, arts, grid):
    """For each exposure, where each mosaic pixel's centre falls on it (x, y through its true
    WCS): ``inside`` (on the chip), ``near`` (its nearest input pixel is saturated) and ``all``
    (every input pixel the output pixel touches is saturated or off the chip).

    Equal pixel scales, the square kernel and pixfrac 1: an output pixel touches the input pixels
    whose centres lie within 1 pixel of (x, y) along both axes, ``REACH`` with the two grids'
    rotation (at most 4 degrees here: half a pixel times cos + sin) and the mild distortion. So
    ``all`` means none of that exposure's good pixels reaches the output pixel, and a good
    ``near`` pixel always does; between the two lies the kernel's one-pixel border.
    """
    yy, xx = np.indices(grid.shape, dtype=float)
    ra, dec = grid.wcs(xx, yy)
    out = []
    for entry, model, art in zip(truth, models, arts, strict=True):
        ny, nx = model.data.shape
        x, y = truth_wcs(entry, "true", (ny, nx)).invert(ra, dec, with_bounding_box=False)
        x, y = np.nan_to_num(x, nan=-9.0), np.nan_to_num(y, nan=-9.0)
        ix, iy = np.clip(np.round(x), -2, nx + 1).astype(int), np.clip(np.round(y), -2, ny + 1).astype(int)
        padded = np.pad(art["saturated"], 3, constant_values=True)  # off the chip: nothing to give
        every = np.ones(grid.shape, bool)
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                touches = (np.abs(ix + dx - x) < REACH) & (np.abs(iy + dy - y) < REACH)
                every &= padded[iy + dy + 3, ix + dx + 3] | ~touches
        inside = (ix >= 0) & (ix < nx) & (iy >= 0) & (iy < ny)
        out.append({"inside": inside, "near": inside & padded[iy + 3, ix + 3], "all": every})
    return out


def test_saturated_pixels_are_exactly_the_do_not_use_pixels(saturated_field):
    """The premise of the hole test: what the files flag DO_NOT_USE is the truth's saturation."""
    truth, models, arts, arrays, grid = saturated_field
    for model, art in zip(models, arts, strict=True):
        assert np.array_equal((model.dq & DQ_FLAGS["DO_NOT_USE"]) > 0, art["saturated"])
        assert art["saturated"].sum() > 10
        assert np.all(np.isnan(model.data[art["saturated"]]))


def test_mosaic_holes_only_where_every_exposure_is_saturated(saturated_field):
    """A mosaic pixel is NaN only where every exposure whose chip its centre falls on has its
    nearest input pixel saturated; and it is NaN wherever no good input pixel of any exposure
    touches it (and one exposure covers it). Between the two (a saturated nearest pixel, a good
    neighbour touching the output pixel's edge) either would be right; here the holes are
    exactly the pixels that no good input pixel touches (9 pixels in 3 holes, the bright stars'
    cores where all the exposures that see them saturate), and the 16 pixels that some exposures
    lost but not all are finite."""
    truth, models, arts, arrays, grid = saturated_field
    lost = _lost_per_exposure(truth, models, arts, grid)
    nan = np.isnan(arrays["data"])
    covered = np.any([k["inside"] for k in lost], axis=0)
    every_near = np.all([k["near"] | ~k["inside"] for k in lost], axis=0)
    every_all = np.all([k["all"] for k in lost], axis=0)
    some_near = np.any([k["near"] for k in lost], axis=0)
    holes = nan & covered
    assert holes.sum() >= HOLES
    assert not np.any(holes & ~every_near), "a hole where an exposure has a good pixel"
    assert np.all(nan[covered & every_all]), "a pixel without any good input pixel has a value"
    # Saturated in one exposure or more but not in all: filled by the others.
    filled = covered & some_near & ~every_near
    assert filled.sum() > holes.sum()
    assert np.all(np.isfinite(arrays["data"][filled]))


def test_holes_have_no_weight_context_or_error(saturated_field):
    """Where SCI is NaN, WHT and CON are 0 and ERR and the variances NaN; where SCI has a value
    WHT > 0, ERR and the variances are finite and CON counts at least one exposure."""
    truth, models, arts, arrays, grid = saturated_field
    nan = np.isnan(arrays["data"])
    count = coverage_count(arrays["con"])
    assert np.all(arrays["wht"][nan] == 0) and np.all(count[nan] == 0)
    assert np.all(arrays["wht"][~nan] > 0) and np.all(count[~nan] >= 1)
    for name in ("err", *VARIANCES):
        assert np.all(np.isnan(arrays[name][nan])), name
        assert np.all(np.isfinite(arrays[name][~nan])), name
