"""The fast paths of the hot spots give what the library calls they replace give (bench/hotspots.md)."""

import warnings

import numpy as np
import pytest
from astropy.stats import SigmaClip
from astropy.utils.exceptions import AstropyUserWarning
from photutils.aperture import ApertureStats, CircularAnnulus
from photutils.background import Background2D, MedianBackground
from photutils.detection import find_peaks
from scipy import ndimage

from image3.outlier_detection import outliers
from image3.source_catalog.aperture_reference import ApertureParams
from image3.source_catalog.catalog import local_background
from image3.tweakreg.source_finding import circular_peaks
from image3.utils.background import background_map
from image3.utils.morphology import box_dilation, connected_above, cross_dilation, maximum_3x3


@pytest.mark.parametrize("radius", [1.2, 2.0, 2.5, 3.0, 3.4, 4.7])
def test_circular_peaks_equal_photutils_find_peaks(radius):
    rng = np.random.default_rng(int(10 * radius))
    for _ in range(20):
        shape = tuple(rng.integers(20, 70, 2))
        image = rng.normal(size=shape).astype(np.float32)
        image[rng.random(shape) < 0.05] = 2.0  # ties
        mask = rng.random(shape) < 0.05
        threshold = rng.choice([-0.2, 0.5, 1.5])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            table = find_peaks(image, threshold, mask=mask, min_separation=radius)
        expected = np.zeros((0, 2)) if table is None else np.column_stack([table["x_peak"], table["y_peak"]])
        np.testing.assert_array_equal(circular_peaks(image, threshold, radius, mask), expected)


@pytest.mark.parametrize("box", [13, 25, 64])
def test_background_map_equals_background2d(box):
    rng = np.random.default_rng(box)
    yy, xx = np.mgrid[:150, :170]
    data = (1.0 + 0.01 * xx + 0.02 * yy + rng.normal(0.0, 0.1, yy.shape)).astype(np.float32)
    mask = rng.random(data.shape) < 0.01
    bkg = Background2D(
        data, box, mask=mask, filter_size=3, sigma_clip=SigmaClip(sigma=3.0), bkg_estimator=MedianBackground()
    )
    background, rms = background_map(data, mask, box)
    np.testing.assert_allclose(background, np.where(mask, 0.0, bkg.background), rtol=1e-6)
    np.testing.assert_allclose(rms, np.where(mask, 0.0, bkg.background_rms), rtol=1e-6)


def test_outlier_filters_equal_scipy():
    rng = np.random.default_rng(3)
    image = rng.normal(size=(31, 40)).astype(np.float32)
    np.testing.assert_array_equal(maximum_3x3(image), ndimage.maximum_filter(image, size=3))
    flags = rng.random((31, 40)) < 0.05
    np.testing.assert_array_equal(
        maximum_3x3(flags), ndimage.binary_dilation(flags, structure=np.ones((3, 3), bool))
    )
    candidates = rng.random(image.shape) < 0.3
    expected = candidates & (image == ndimage.maximum_filter(image, size=5))
    np.testing.assert_array_equal(outliers.local_maxima_5x5(image, candidates), expected)
    source = image + 3.0
    iy, ix = np.nonzero(candidates)
    full = outliers.flux_agrees(image, source)
    np.testing.assert_array_equal(outliers.flux_agrees(image, source, pixels=(iy, ix)), full[iy, ix])


def test_skymatch_dilations_equal_scipy():
    rng = np.random.default_rng(4)
    for radius in range(1, 10):
        mask = rng.random((40, 57)) < 0.02
        np.testing.assert_array_equal(
            box_dilation(mask, radius), ndimage.maximum_filter(mask, 2 * radius + 1)
        )
        np.testing.assert_array_equal(cross_dilation(mask), ndimage.binary_dilation(mask))


def test_local_background_equals_aperture_stats():
    rng = np.random.default_rng(5)
    data = rng.normal(1.0, 0.1, (120, 130))
    data[rng.random(data.shape) < 0.01] += 5.0  # for the clipping
    mask = np.zeros(data.shape, bool)
    mask[:, :6] = True
    positions = np.column_stack([rng.uniform(-5, 135, 40), rng.uniform(-5, 125, 40)])
    apertures = ApertureParams((30, 50, 70), (1.0, 2.0, 3.0), (3.0, 2.0, 1.5), 8.3, 14.1, "test")
    bkg, err = local_background(data, mask, positions, apertures)
    annulus = CircularAnnulus(positions, apertures.skyin, apertures.skyout)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AstropyUserWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        stats = ApertureStats(data, annulus, mask=mask, sigma_clip=SigmaClip(sigma=3.0))
        n = np.asarray(stats.center_aper_area.value)
        std_err = np.sqrt(np.pi / (2 * n)) * stats.std
    np.testing.assert_allclose(bkg, stats.median, rtol=1e-12)
    np.testing.assert_allclose(err, std_err, rtol=1e-12)


def test_sky_source_mask_segments_equal_photutils_detect_sources():
    from photutils.segmentation import detect_sources

    rng = np.random.default_rng(5)
    image = ndimage.gaussian_filter(rng.normal(size=(300, 280)), 1.5)
    for threshold, npixels in ((0.15, 5), (0.3, 1), (0.05, 40)):
        segm = detect_sources(image, threshold, npixels)
        expected = np.zeros(image.shape, bool) if segm is None else segm.data > 0
        np.testing.assert_array_equal(connected_above(image, threshold, npixels), expected)


def test_brightest_groups_equal_ndimage_maximum_position():
    from image3.outlier_detection.qa import _brightest_groups

    rng = np.random.default_rng(1)
    for _ in range(30):
        image = rng.normal(size=(80, 90))
        mask = rng.random(image.shape) < 0.08
        labels, count = ndimage.label(mask)
        peaks = ndimage.maximum_position(image, labels, range(1, count + 1))
        expected = sorted(peaks, key=lambda p: -image[p])[:4]
        assert _brightest_groups(image, mask, 4) == [tuple(map(int, p)) for p in expected]


@pytest.mark.parametrize("n", [1, 2, 3, 4, 6, 9])
def test_median_of_valid_equals_nanmedian(n):
    from image3.outlier_detection.files import _median_of_valid

    rng = np.random.default_rng(n)
    stack = (100 * rng.normal(size=(n, 60, 70))).astype(np.float32)
    stack[rng.random(stack.shape) < 0.3] = np.nan
    count = np.isfinite(stack).sum(axis=0).astype(np.uint8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        expected = np.nanmedian(np.where(count > 0, stack, 0.0), axis=0)
        expected = np.where(count == 2, np.nanmin(stack, axis=0), expected)  # two: the lower
    expected[count == 0] = np.nan
    np.testing.assert_array_equal(_median_of_valid(stack.copy(), count), expected)
