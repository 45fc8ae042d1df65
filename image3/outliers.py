"""Outlier detection: each exposure drizzled alone, a median of them, blotted back and compared.

Images in MJy/sr, pixels 0-based. Beyond the official step:

- **Median noise.** The comparison ``|data - blot|`` has the noise of the data and of the median;
  the threshold uses ``err * sqrt(1 + pi / (2 n))`` for n >= 3 contributing exposures (the median's
  variance) and ``sqrt(1.68)`` for n = 2 (the lower of two), so thin coverage does not raise false
  flags.
- **Two exposures.** The median of two is their mean: half of a cosmic ray in one lands in the
  median and in the other exposure's difference. Where two overlap the lower value is used instead
  (the official ``nhigh=1``), which a cosmic ray does not reach.
- **Undersampled stars.** A star centred on a pixel peaks far above the blotted median (drizzle and
  blot smooth the peak), which the derivative term does not cover. The threshold adds
  ``psf_term * max3x3(blot - background)``, with ``psf_term`` measured on each exposure's bright
  peaks (the 98th percentile of their excess over the official threshold, relative to the peak;
  only peaks whose flux the exposure and the median agree on), unless set in the config.
- **Single coverage.** Where one exposure alone covers the sky the median is the exposure itself;
  there cosmic rays are found with a Laplacian edge detector (van Dokkum 2001, L.A.Cosmic), whose
  fine-structure test keeps star cores.
"""

from dataclasses import dataclass

import numpy as np
from astropy.io import fits
from drizzle.resample import Drizzle, blot_image
from scipy import ndimage

from .errors import InputError
from .pixmap import pixel_map
from .resample import DrizzleSettings, Exposure, weight_map

PSF_TERM_PERCENTILE = 98


def _pair(text, key):
    try:
        values = [float(v) for v in str(text).replace(",", " ").split()]
    except ValueError:
        values = []
    if len(values) != 2:
        raise InputError(f"outlier_detection.{key} = {text!r}: give two numbers, e.g. '5.0 4.0'")
    return values


@dataclass(frozen=True)
class FlagSettings:
    """Thresholds of the ``outlier_detection`` config section (official names and meaning)."""

    snr: str = "5.0 4.0"
    scale: str = "1.2 0.7"
    backg: float = 0.0
    psf_term: float | None = None
    single_coverage_crs: bool = True
    lacosmic_sigclip: float = 6.0
    lacosmic_sigfrac: float = 0.3
    lacosmic_objlim: float = 5.0

    def __post_init__(self):
        _pair(self.snr, "snr")
        _pair(self.scale, "scale")


def single_image(exposure: Exposure, grid, settings: DrizzleSettings, native_scale: float):
    """The exposure, sky subtracted, drizzled alone onto the grid: (sci, wht) float32 arrays."""
    driz = Drizzle(kernel=settings.kernel, fillval="NaN", out_shape=grid.shape, disable_ctx=True)
    pixmap = pixel_map(exposure.wcs, grid.wcs, exposure.data.shape, settings.pixmap_step)
    data = np.nan_to_num(exposure.data - exposure.sky, nan=0.0, posinf=0.0, neginf=0.0)
    driz.add_image(
        data=data.astype(np.float32),
        exptime=exposure.exptime,
        pixmap=pixmap,
        weight_map=weight_map(exposure, settings),
        pixfrac=settings.pixfrac,
        pixel_scale_ratio=grid.pixel_scale / native_scale,
        in_units="cps",
    )
    return driz.out_img.astype(np.float32), driz.out_wht.astype(np.float32)


def write_image_pair(path, sci, wht):
    """A work file with SCI and WHT image extensions (uncompressed, so rows can be read lazily)."""
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(sci, name="SCI"), fits.ImageHDU(wht, name="WHT")]).writeto(
        path
    )


def median_image(single_paths, maskpt=0.7, max_memory_mb=1000.0):
    """Median of the single images, ignoring pixels with weight < maskpt x the image's typical one.

    Where exactly two images are valid, the lower value is taken instead (see below).
    The typical weight is the median of an image's positive weights. Rows are processed in sections
    sized so that the stacked sections take at most ``max_memory_mb`` whatever the number of
    images. Returns (median float32 with NaN where nothing is valid, count uint8 of valid images).
    """
    # Rows are read through ``section`` (no memory map), so only the current section is resident.
    hduls = [fits.open(p, memmap=False, lazy_load_hdus=True) for p in single_paths]
    try:
        ny, nx = hduls[0]["SCI"].shape
        n = len(hduls)
        limits = []
        for h in hduls:
            wht = h["WHT"].section
            sample = np.concatenate([wht[r : r + 1].ravel() for r in np.linspace(0, ny - 1, 64).astype(int)])
            positive = sample[sample > 0]
            limits.append(maskpt * (np.median(positive) if positive.size else np.inf))
        # A section's float32 stack, its validity mask and the copies np.nanmedian makes take about
        # ten times the stack itself; the interpreter and libraries about 250 MB (bench/median_memory.py).
        budget_mb = max(max_memory_mb - 250.0, 25.0)
        rows = max(1, int(budget_mb * 1e6 / (n * nx * 4 * 10)))
        median = np.full((ny, nx), np.nan, np.float32)
        count = np.zeros((ny, nx), np.uint8)
        for r0 in range(0, ny, rows):
            r1 = min(ny, r0 + rows)
            stack = np.empty((n, r1 - r0, nx), np.float32)
            for k, (h, limit) in enumerate(zip(hduls, limits, strict=True)):
                sci = h["SCI"].section[r0:r1]
                stack[k] = np.where(np.asarray(h["WHT"].section[r0:r1]) >= limit, sci, np.nan)
            valid = np.isfinite(stack)
            count[r0:r1] = valid.sum(axis=0)
            with np.errstate(all="ignore"):
                section = np.nanmedian(np.where(count[r0:r1] > 0, stack, 0.0), axis=0)
                # Where two images overlap their median is their mean, half of any cosmic ray;
                # the lower of the two (official nhigh=1) is free of it.
                median[r0:r1] = np.where(count[r0:r1] == 2, np.nanmin(stack, axis=0), section)
            median[r0:r1][count[r0:r1] == 0] = np.nan
        return median, count
    finally:
        for h in hduls:
            h.close()


def blot(median, count, pixmap):
    """The median and its coverage count seen from an exposure (via the exposure->grid pixmap)."""
    data = np.nan_to_num(median, nan=0.0).astype(np.float32)
    blotted = blot_image(data, pixmap, interp="poly5")
    ny, nx = count.shape
    ix = np.clip(np.rint(pixmap[..., 0]), 0, nx - 1).astype(int)
    iy = np.clip(np.rint(pixmap[..., 1]), 0, ny - 1).astype(int)
    inside = (pixmap[..., 0] > -0.5) & (pixmap[..., 0] < nx - 0.5)
    inside &= (pixmap[..., 1] > -0.5) & (pixmap[..., 1] < ny - 0.5)
    coverage = np.where(inside & np.isfinite(pixmap[..., 0]), count[iy, ix], 0)
    return blotted, coverage


def abs_derivative(image):
    """Largest absolute difference between each pixel and its four neighbours."""
    padded = np.pad(image, 1, mode="edge")
    centre = padded[1:-1, 1:-1]
    diffs = [
        np.abs(centre - padded[:-2, 1:-1]),
        np.abs(centre - padded[2:, 1:-1]),
        np.abs(centre - padded[1:-1, :-2]),
        np.abs(centre - padded[1:-1, 2:]),
    ]
    return np.max(diffs, axis=0)


def median_noise_factor(coverage):
    """sqrt(1 + var(median) / var(pixel)) for the number of exposures in the median."""
    n = np.maximum(coverage, 1).astype(float)
    # n >= 3: variance of a median; n = 2: of the lower of two (0.68); n = 1: the image itself.
    extra = np.where(n >= 3, np.pi / (2 * n), np.where(n == 2, 0.68, 1.0))
    return np.sqrt(1.0 + extra)


def measure_psf_term(diff, base, source, err, peaks_snr=50.0, flux_agreement=0.3):
    """Excess of bright peaks over the official threshold, relative to the peak (98th percentile).

    ``diff`` is data - background - blot, ``base`` the official (loose) threshold, ``source`` the
    blot minus background. Peaks are 5x5 local maxima of ``source`` above ``peaks_snr`` x err whose
    5x5 flux in the exposure agrees with the blot's within ``flux_agreement`` (|sum diff| <=
    flux_agreement x sum source): the same source, only sharper or blurred. A peak where the
    exposure holds another source (a cosmic ray on a star, or a static star on a moving target's
    frame, where the median holds whatever the exposures agree on) says nothing of the PSF.
    Returns 0 when fewer than 5 peaks exist.
    """
    peaks = (source == ndimage.maximum_filter(source, size=5)) & (source > peaks_snr * err)
    peaks &= np.abs(ndimage.uniform_filter(diff, size=5)) <= flux_agreement * ndimage.uniform_filter(
        source, size=5
    )
    if peaks.sum() < 5:
        return 0.0
    excess = ndimage.maximum_filter(np.abs(diff) - base, size=3)
    ratios = excess[peaks] / source[peaks]
    return float(max(0.0, np.percentile(ratios, PSF_TERM_PERCENTILE)))


def laplacian_significance(data, err):
    """L.A.Cosmic's statistics (van Dokkum 2001): Laplacian significance and fine structure, and
    how far each pixel sticks out of its 3x3 median (in noise units).

    The Laplacian of the 2x-subsampled image (negative values clipped, block-averaged back) in units
    of the noise, minus its 5x5 median (large-scale structure); and the fine-structure image (3x3
    median minus its 7x7 median, in noise units, at least 0.01).
    """
    ny, nx = data.shape
    sub = np.repeat(np.repeat(data, 2, axis=0), 2, axis=1)
    kernel = np.array([[0.0, -1.0, 0.0], [-1.0, 4.0, -1.0], [0.0, -1.0, 0.0]])
    lap = np.clip(ndimage.convolve(sub, kernel, mode="nearest"), 0.0, None)
    lap = lap.reshape(ny, 2, nx, 2).mean(axis=(1, 3))
    noise = np.where(err > 0, err, np.inf)
    significance = lap / (2.0 * noise)
    significance -= ndimage.median_filter(significance, size=5)
    m3 = ndimage.median_filter(data, size=3)
    fine = np.clip((m3 - ndimage.median_filter(m3, size=7)) / noise, 0.01, None)
    stickout = (data - m3) / noise
    return significance, fine, stickout


def laplacian_cosmic_rays(significance, fine, stickout, sigclip=6.0, sigfrac=0.3, objlim=5.0):
    """Cosmic rays: Laplacian significance above ``sigclip`` and ``objlim`` times the fine structure,
    standing ``sigclip`` above their own 3x3 median (which a resolved source does not), grown to
    neighbours above ``sigfrac * sigclip``."""
    candidates = (significance > sigclip) & (significance / fine > objlim) & (stickout > sigclip)
    grown = ndimage.binary_dilation(candidates, structure=np.ones((3, 3), bool))
    return candidates | (grown & (significance > sigfrac * sigclip))


def source_objlim(significance, fine, peaks, objlim):
    """``objlim`` raised above the sharpness of this exposure's real sources.

    Undersampled stars (F090W) are as sharp as faint cosmic rays by L.A.Cosmic's measure; the
    Laplacian-to-fine-structure ratio at ``peaks`` (sources confirmed by other exposures) sets a
    floor of 1.5 x its 90th percentile (robust to the few peaks a cosmic ray hit).
    """
    if peaks.sum() < 5:
        return objlim
    return float(max(objlim, 1.5 * np.percentile(significance[peaks] / fine[peaks], 90)))


def flag_outliers(data, err, blotted, coverage, background, settings: FlagSettings):
    """Boolean mask of outliers in an exposure, and the psf_term used.

    ``data`` and ``err`` are the exposure's SCI and ERR, ``blotted`` the median seen from it (sky
    subtracted), ``coverage`` the number of exposures in that median, ``background`` the sky level
    the exposure still contains. Official scheme: a pixel is flagged when it exceeds the loose
    threshold (snr[1], scale[1]) and a pixel of its 3x3 neighbourhood exceeds the strict one
    (snr[0], scale[0]); see the module docstring for what is added.
    """
    (snr1, snr2), (scale1, scale2) = _pair(settings.snr, "snr"), _pair(settings.scale, "scale")
    diff = data - background - settings.backg - blotted
    deriv = abs_derivative(blotted)
    noise = err * median_noise_factor(coverage)
    source = blotted - np.nanmedian(blotted)
    psf_term = settings.psf_term
    if psf_term is None:
        psf_term = measure_psf_term(diff, snr2 * noise + scale2 * deriv, source, err)
    extra = psf_term * ndimage.maximum_filter(np.clip(source, 0.0, None), size=3)
    strength = np.abs(diff)
    strict = strength > snr1 * noise + scale1 * deriv + extra
    loose = strength > snr2 * noise + scale2 * deriv + extra
    mask = ndimage.binary_dilation(strict, structure=np.ones((3, 3), bool)) & loose
    mask &= coverage >= 2
    if settings.single_coverage_crs and (coverage <= 1).any():
        significance, fine, stickout = laplacian_significance(data - background, err)
        peaks = (source == ndimage.maximum_filter(source, size=5)) & (source > 8 * err) & (coverage >= 2)
        objlim = source_objlim(significance, fine, peaks, settings.lacosmic_objlim)
        single = laplacian_cosmic_rays(
            significance, fine, stickout, settings.lacosmic_sigclip, settings.lacosmic_sigfrac, objlim
        )
        mask |= single & (coverage <= 1)
    return mask & np.isfinite(data), psf_term


def write_mask(path, mask, **header):
    """An outlier mask as a compressed uint8 FITS image, with summary keywords in its header."""
    hdu = fits.CompImageHDU(mask.astype(np.uint8), name="OUTLIERS", compression_type="GZIP_1")
    for key, value in header.items():
        hdu.header[key[:8].upper()] = value
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(path)


def read_mask(path):
    """(boolean mask, header) of a file written by :func:`write_mask`."""
    with fits.open(path) as hdul:
        return hdul["OUTLIERS"].data.astype(bool), dict(hdul["OUTLIERS"].header)
