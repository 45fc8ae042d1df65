"""tweakreg parameters that behave as the official step's, or differ on purpose (#34): the
segmentation star finder deblends, and ``separation <= sqrt(2) * tolerance`` warns and aligns."""

import logging

import numpy as np
import pytest
import simdata

from image3.tweakreg import alignment
from image3.tweakreg.settings import DetectionSettings, FitSettings
from image3.tweakreg.source_finding import find_sources, star_finder_for
from image3.utils.psf_width import detection_fwhm

# Two pairs of touching stars (4.8 and 5.7 pixels apart, FWHM 2 pixels) and two single stars.
STARS = np.array([(60.3, 70.2), (65.1, 70.6), (150.4, 180.7), (155.0, 184.1), (200.2, 60.5), (40.6, 200.3)])


def touching_stars(fwhm=2.0, shape=(256, 256)):
    """Image (peak 1, noise 0.01) of Gaussian stars at ``STARS`` (0-based x, y) and its DQ."""
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    sigma = fwhm / 2.3548
    image = rng.normal(0.0, 0.01, shape)
    for x, y in STARS:
        image += np.exp(-0.5 * ((xx - x) ** 2 + (yy - y) ** 2) / sigma**2)
    return image.astype(np.float32), np.zeros(shape, np.uint32)


def nearest_offsets(catalog):
    """Distance (pixels) from each true star to the nearest detection."""
    xy = np.column_stack([catalog["x"], catalog["y"]])
    return np.min(np.hypot(*(STARS[:, None, :] - xy[None, :, :]).transpose(2, 0, 1)), axis=1)


def test_segmentation_deblends_touching_stars():
    """starfinder segmentation deblends as the official SourceFinder (deblend true, nlevels 32,
    contrast 0.001): each of the 6 stars found within 0.05 pixel. Without deblending (deblend
    false, as before #34) each touching pair is one source, its centroid 2.4-2.9 pixels off."""
    image, dq = touching_stars()
    settings = DetectionSettings(starfinder="segmentation")
    assert settings.deblend and settings.nlevels == 32 and settings.contrast == 0.001
    found = find_sources(image, dq, 2.0, settings)
    assert len(found) == len(STARS)
    assert nearest_offsets(found).max() < 0.05
    merged = find_sources(image, dq, 2.0, DetectionSettings(starfinder="segmentation", deblend=False))
    assert len(merged) == 4
    assert nearest_offsets(merged).max() > 2.0


@pytest.fixture(scope="module")
def small():
    """3 exposures of 512^2 (pointing errors up to 0.5 arcsec): truth and models."""
    sim = simdata.settings(shape=[512, 512], n_exposures=3, star_density=900)
    _, truth, models, _ = simdata.simulate(sim)
    return truth, models


def test_close_separation_warns_and_aligns(small, caplog):
    """separation 0.5 arcsec <= sqrt(2) x tolerance 0.7: the official step skips the alignment
    (exposures keep their WCS, here 150-350 mas RMS off each other); ours warns, naming both
    keys, and aligns: <= 2 mas RMS from the truth."""
    truth, models = small
    exposures = simdata.exposure_catalogs(models, detection_fwhm("F150W", 0.0311), DetectionSettings())
    shape = models[0].data.shape
    before = simdata.relative_alignment_rms([e.wcs for e in exposures], truth, shape)
    close = FitSettings(separation=0.5, tolerance=0.7)
    with caplog.at_level(logging.WARNING, logger="image3"):
        alignment.align_relative(exposures, close)
    assert "tweakreg.separation = 0.5 arcsec <= sqrt(2) x tweakreg.tolerance" in caplog.text
    after = simdata.relative_alignment_rms([e.wcs for e in exposures], truth, shape)
    assert before > 100 and after <= 2.0, (before, after)
    assert alignment.report(exposures)["aligned"].all()
    assert not alignment.warn_close_separation(FitSettings())  # defaults 1.0 > 0.99: no warning
    assert alignment.warn_close_separation(FitSettings(separation=0.98, tolerance=0.7), "abs_")


@pytest.mark.parametrize("key", ["deblend", "nlevels", "contrast"])
def test_deblending_keys_are_config_keys(key):
    """The deblending parameters are declared in config.yaml with the official defaults."""
    import yaml

    config = yaml.safe_load((simdata.REPO / "config.yaml").read_text())["tweakreg"]
    assert config[key] == getattr(DetectionSettings(), key)


def test_every_crf_gets_a_sip_of_its_final_wcs(small, tmp_path):
    """An exposure whose WCS did not change (no wcs given) still gets a fresh SIP of its gwcs in
    the _crf's SCI header, within sip_max_pix_error (0.01 pixel) everywhere on the detector; the
    official step keeps the _cal's header WCS then, here a plain TAN without SIP (0.11 pixel off
    at the corners), or whatever SIP the _cal was given."""
    from astropy.io import fits
    from astropy.wcs import WCS

    from image3.exposure_products.crf import write_crf
    from image3.io.product_meta import SipSettings

    model = small[1][0].copy()
    for key in [k for k in model.meta.wcsinfo.instance if k[:2] in ("a_", "b_", "ap", "bp")]:
        del model.meta.wcsinfo.instance[key]
    model.meta.wcsinfo.ctype1, model.meta.wcsinfo.ctype2 = "RA---TAN", "DEC--TAN"
    cal, crf = tmp_path / "e_cal.fits", tmp_path / "e_crf.fits"
    model.save(cal)
    ny, nx = model.data.shape
    y, x = (a.ravel().astype(float) for a in np.mgrid[0 : ny - 1 : 32j, 0 : nx - 1 : 32j])
    truth = model.meta.wcs(x, y)

    def pixel_error(path):
        header = WCS(fits.getheader(path, "SCI"))
        px, py = header.all_world2pix(*truth, 0)
        return np.hypot(px - x, py - y).max()

    write_crf(cal, crf, "asn.json", SipSettings())
    assert pixel_error(crf) <= 0.01
    assert pixel_error(cal) > 0.05


@pytest.mark.parametrize(
    ("filter_name", "pixel_scale", "expected"),
    [("F090W", 0.031, "iraf"), ("F150W", 0.031, "iraf"), ("F200W", 0.031, "dao"), ("F444W", 0.063, "dao"),
     ("F770W", 0.11, "dao")],
)  # fmt: skip
def test_starfinder_auto_is_dao_for_a_well_sampled_psf(filter_name, pixel_scale, expected):
    """Deliberate difference: the default ``auto`` runs DAOFind where the kernel FWHM is 2 pixels or
    more and the official default starfind (iraf) below; a named finder is always used as named.
    The alignment figures that pin the choice: tests/simulate/test_instruments.py (LW, MIRI)."""
    fwhm = detection_fwhm(filter_name, pixel_scale)
    assert star_finder_for("auto", fwhm) == expected
    assert DetectionSettings().starfinder == "auto"
    assert {star_finder_for(name, fwhm) for name in ("iraf", "dao", "segmentation")} == {
        "iraf",
        "dao",
        "segmentation",
    }
