"""Outlier detection: each exposure drizzled alone, a median of them, blotted back and compared.

Images in MJy/sr, pixels 0-based. Beyond the official step:

- **Above the median only.** A cosmic ray adds charge, so only pixels above the blotted median are
  flagged (the official step flags ``|data - blot|``, which also takes the valleys of bright
  stars' undersampled rings and spikes, where the smoothed median lies above the exposure).
- **Noise of the difference.** ``snr`` is in units of the noise of ``data - blot``, measured on
  each exposure per coverage value (:func:`_difference_noise`); it is about 0.95 x ERR where six
  exposures overlap (the exposure's own pixels are in the median, and drizzling and blotting smooth
  the median's noise) and 1.0 where two do.
- **Two exposures.** The median of two is their mean: half of a cosmic ray in one lands in the
  median and in the other exposure's difference. Where two overlap the lower value is used instead
  (the official ``nhigh=1``), which a cosmic ray does not reach.
- **Curvature.** Drizzling and blotting smooth the median, lowering its peaks and the rings of
  bright stars, where the gradient vanishes; the derivative term adds ``curvature`` x the largest
  |Laplacian| of the blot in the pixel's 3x3 neighbourhood (:func:`_abs_curvature`).
- **The median's own noise.** On the sky the blot's derivative is its noise's; the
  ``derivative_noise`` quantile of it (in units of ERR) is taken off there
  (:func:`_sky_derivative_less_noise`), so that lone pixels (single-pixel cosmic rays) need not
  pass a threshold raised by noise.
- **Undersampled stars.** A star centred on a pixel peaks far above the blotted median, more than
  both terms cover. The threshold adds ``psf_term * (max3x3(blot - background) - ERR)`` (not
  below 0), with ``psf_term`` measured on each exposure's bright peaks (the 98th percentile of their
  excess over the loose threshold, relative to the peak; separately where two exposures overlap;
  only peaks whose flux the exposure and the median agree on, and not where one exposure alone
  covers the sky), unless set in the config.
- **Cosmic rays on sources.** A pixel that the official rule would flag (its derivative term alone)
  but the curvature and PSF terms let through is a cosmic ray when it is ``source_sharpness`` sigma
  sharper than every one of the exposure's stars at any sub-pixel phase (the templates below;
  :func:`_source_cosmic_rays`), grown along tracks as below.
- **Single coverage.** Where one exposure alone covers the sky the median is the exposure itself;
  there a cosmic ray of any shape (single pixel, straight track at any angle, core with dimmer
  neighbours) is a pixel that no star fits: candidates come from L.A.Cosmic's Laplacian
  (van Dokkum 2001), and a core is one that every PSF template (the exposure's own stars,
  confirmed by other exposures, at their sub-pixel phases; :func:`_psf_templates`) leaves sharper
  than a star by ``lacosmic_sharpness`` sigma (:func:`_sharper_than_psf`); cores are then grown
  along tracks. The brightest-in-3x3 and 7x7-contrast tests (and, on sources, L.A.Cosmic's
  fine-structure test) keep the wings and rings of bright stars. Its statistics are computed only
  near candidates.
- **Diffraction spikes of another roll.** Spikes are fixed in the telescope's V2/V3 frame, so
  exposures of another visit (another roll) show a bright star's spikes elsewhere on the sky; far
  from the star the median then holds only part of each visit's spike and the rest stands out in
  each exposure like a cosmic ray. A flagged pixel whose excess runs ``spike_reach`` pixels to
  both sides along one of the spike lines (:mod:`.spikes`: their directions on the detector from
  the roll) is tested again with that excess taken off (:func:`_off_spikes`); a cosmic ray, on a
  spike or not, does not run that far and stays flagged.
"""

import numpy as np
from scipy import ndimage

from ..resample.drizzle import Exposure, weight_map
from ..resample.settings import DrizzleSettings
from ..utils.morphology import maximum_3x3
from ..wcs.pixmap import pixel_map
from .files import SingleImage, read_median
from .settings import FlagSettings, threshold_pair
from .spikes import along_lines

__all__ = [
    "KERNEL_REACH",
    "blot",
    "blot_window",
    "blotted_median",
    "flag_outliers",
    "flux_agrees",
    "laplacian_significance",
    "laplacian_statistics",
    "local_maxima_5x5",
    "single_image",
]

PSF_TERM_PERCENTILE = 98
# Output pixels beyond an input pixel's centre that a drizzle kernel can reach (lanczos3: 3).
KERNEL_REACH = 4
PSF_PEAKS_SNR = 50.0
GROW_ITERATIONS = 10
CROP_MARGIN = 8  # pixels: the 9x9 of L.A.Cosmic's statistics and the Laplacian's own reach
ON_SOURCE = 3.0  # a 7x7 median this many sigma above the sky: the pixel is on a source
CORE_CONTRAST = 3.0  # a core stands this many times above the median of its 7x7
INNER_3X3 = np.array([16, 17, 18, 23, 24, 25, 30, 31, 32])  # of a 7x7 cut-out, flattened
GROW_SHARPNESS = 0.5  # x lacosmic_sharpness: what a neighbour of a cosmic ray must pass
SKY_SNR = 2.0  # the blot's 3x3 maximum below this x ERR: sky, for the derivative's noise
SPIKE_SNR = 2.0  # an excess running along a spike line at least this x the noise: on a spike
SPIKE_TOLERANCE = 0.3  # of that excess, what its estimate along the line may miss at the pixel


def single_image(
    exposure: Exposure, grid, settings: DrizzleSettings, native_scale: float, *, pixmap=None
) -> SingleImage:
    """The exposure, less ``exposure.sky``, drizzled alone onto the part of the grid it covers.

    ``pixmap``: the exposure's pixel map onto the grid (e.g. from its sampled geometry); by default
    computed from ``exposure.wcs``. The cut-out is the pixmap's bounding box grown by
    ``KERNEL_REACH`` pixels (the widest kernel's footprint), so it holds every output pixel the
    exposure reaches: SCI and WHT equal the full-grid drizzle's there.
    """
    from drizzle.resample import Drizzle

    if pixmap is None:
        pixmap = pixel_map(exposure.wcs, grid.wcs, exposure.data.shape, settings.pixmap_step)
    (x0, x1), (y0, y1) = (_reach(pixmap[..., axis], grid.shape[1 - axis]) for axis in (0, 1))
    shape = (max(y1 - y0, 1), max(x1 - x0, 1))
    pixmap = pixmap - np.array([x0, y0], float)
    driz = Drizzle(kernel=settings.kernel, fillval="NaN", out_shape=shape, disable_ctx=True)
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
    sci, wht = driz.out_img.astype(np.float32), driz.out_wht.astype(np.float32)
    return SingleImage(sci, wht, (x0, y0), grid.shape)


def _reach(coordinate, size):
    """[first, last + 1) output pixels along one axis that input pixels at ``coordinate`` reach."""
    finite = coordinate[np.isfinite(coordinate)]
    if finite.size == 0:
        return 0, 0
    first = max(int(np.floor(finite.min())) - KERNEL_REACH, 0)
    end = min(int(np.ceil(finite.max())) + KERNEL_REACH + 1, size)
    return (first, end) if end > first else (0, 0)


def blot_window(pixmap, grid_shape):
    """(rows, columns) slices of the grid that blotting onto an exposure reads: the bounding box
    of its pixels on the grid (``pixmap``: exposure -> grid) grown by ``KERNEL_REACH``, beyond the
    interpolation's reach, so a blot of that window equals the blot of the whole grid."""
    (x0, x1), (y0, y1) = (_reach(pixmap[..., axis], grid_shape[1 - axis]) for axis in (0, 1))
    return slice(y0, y1), slice(x0, x1)


def blot(median, count, pixmap):
    """The median and its coverage count seen from an exposure (via the exposure->grid pixmap;
    the median may be a window of the grid, with the pixmap shifted to its first pixel)."""
    from drizzle.resample import blot_image

    data = np.nan_to_num(median, nan=0.0).astype(np.float32)
    blotted = blot_image(data, pixmap, interp="poly5")
    ny, nx = count.shape
    ix = np.clip(np.rint(pixmap[..., 0]), 0, nx - 1).astype(int)
    iy = np.clip(np.rint(pixmap[..., 1]), 0, ny - 1).astype(int)
    inside = (pixmap[..., 0] > -0.5) & (pixmap[..., 0] < nx - 0.5)
    inside &= (pixmap[..., 1] > -0.5) & (pixmap[..., 1] < ny - 0.5)
    coverage = np.where(inside & np.isfinite(pixmap[..., 0]), count[iy, ix], 0)
    return blotted, coverage


def blotted_median(median_path, pixmap, grid_shape):
    """The product's median and its coverage count (a :func:`.files.write_median` file) seen from
    an exposure, reading only the window of the grid the exposure covers (:func:`blot_window`);
    ``pixmap``: the exposure's pixels -> grid pixels (0-based, (ny, nx, 2))."""
    rows, columns = blot_window(pixmap, grid_shape)
    median, count = read_median(median_path, (rows, columns))
    return blot(median, count, pixmap - [columns.start, rows.start])


def _abs_derivative(image):
    """Largest absolute difference between each pixel and its four neighbours."""
    padded = np.pad(image, 1, mode="edge")
    centre = padded[1:-1, 1:-1]
    out = np.abs(centre - padded[:-2, 1:-1])
    diff = np.empty_like(out)
    for neighbour in (padded[2:, 1:-1], padded[1:-1, :-2], padded[1:-1, 2:]):
        np.subtract(centre, neighbour, out=diff)
        np.maximum(out, np.abs(diff, out=diff), out=out)
    return out


def _abs_curvature(image):
    """Largest absolute Laplacian (4 x pixel - its four neighbours) in each pixel's 3x3 neighbourhood.

    Drizzling and blotting smooth the median, which lowers its peaks and rings by about a fixed
    fraction of this; the gradient does not cover them (it vanishes on a crest).
    """
    p = np.pad(image, 1, mode="edge")
    lap = 4.0 * p[1:-1, 1:-1]
    for neighbour in (p[:-2, 1:-1], p[2:, 1:-1], p[1:-1, :-2], p[1:-1, 2:]):
        lap -= neighbour
    return maximum_3x3(np.abs(lap, out=lap))


def _sky_derivative_less_noise(deriv, local_max, err, usable, quantile, sky_snr=SKY_SNR):
    """The derivative term less what the median's own noise makes of it, on the sky.

    On empty sky the blot's derivative is that of its noise, which raises the strict threshold of a
    lone pixel (with no brighter neighbour to pull it in through the 3x3 growth) by ``scale[0]`` x
    that, for no misregistration. There the ``quantile`` (0-1) of ``deriv`` / ERR over ``usable``
    sky pixels (every second in each direction) x ERR is taken off (not below 0). Sky: the blot's
    3x3 maximum (``local_max``, background subtracted) below ``sky_snr`` x ERR; near sources, where
    a misregistration or the median's smoothing moves flux, ``deriv`` is kept whole. ``deriv`` and
    the result in the image's units (MJy/sr).
    """
    sky = local_max < sky_snr * err
    sub = np.s_[::2, ::2]
    ratio = (deriv[sub] / err[sub])[(sky & usable & (err > 0))[sub]]
    if ratio.size == 0:
        return deriv
    out = deriv - float(np.quantile(ratio, quantile)) * err
    np.maximum(out, 0.0, out=out)
    np.copyto(out, deriv, where=~sky)
    return out


def _difference_noise(z, coverage, quiet, size, min_pixels=1000):
    """Noise of data - background - blot in units of ERR for each coverage value below ``size``: a
    table indexed by coverage (``table[coverage]`` per pixel).

    Measured on the exposure itself: for each coverage value, half the distance from the median to
    the 97.7th percentile (2 sigma) of ``z`` = difference / ERR over ``quiet`` pixels (``z``,
    ``coverage`` and ``quiet`` at every second pixel in each direction, as the caller samples them);
    where two exposures overlap the difference to the lower one is one-sided. Never above 1 (ERR
    alone): sources in this exposure alone (a moving target's static stars) would otherwise widen
    the upper side and hide themselves. The exposure's own pixels are in the median, and drizzling
    and blotting smooth its noise, so this is below 1 where many overlap. Coverage values with fewer
    than ``min_pixels`` quiet pixels get 1 (ERR alone, as the official step).
    """
    table = np.ones(size, np.float32)
    for c in np.unique(coverage[quiet & (coverage >= 2)]):
        values = z[quiet & (coverage == c)]
        if values.size >= min_pixels:
            p50, p977 = np.percentile(values, [50.0, 97.725])
            table[c] = min((p977 - p50) / 2, 1.0)
    return table


def flux_agrees(diff, source, tolerance=0.3, pixels=None):
    """Where the exposure and the blotted median agree on a source's 5x5 flux within ``tolerance``
    (|sum diff| <= tolerance x sum source; non-finite values count as 0, edges mirrored): the same
    source, only sharper or blurred. A peak where the exposure holds another source too (a cosmic
    ray on a star, or a static star in a moving target's frame) says nothing of the PSF.

    ``pixels`` (iy, ix) computes it at those pixels only (a 1-d array); None at every pixel.
    """
    if pixels is None:
        diff_sum = ndimage.uniform_filter(np.nan_to_num(diff), size=5)
        return np.abs(diff_sum) <= tolerance * ndimage.uniform_filter(np.nan_to_num(source), size=5)
    iy, ix = pixels
    diff_sum = np.nan_to_num(_patches(diff, iy, ix, 2, "symmetric")).sum(axis=(1, 2))
    source_sum = np.nan_to_num(_patches(source, iy, ix, 2, "symmetric")).sum(axis=(1, 2))
    return np.abs(diff_sum) <= tolerance * source_sum


def local_maxima_5x5(image, candidates):
    """Pixels of ``candidates`` that are the largest value of their 5x5 neighbourhood (edges
    mirrored, as ``image == ndimage.maximum_filter(image, size=5)``); False elsewhere."""
    iy, ix = np.nonzero(candidates)
    peaks = np.zeros(image.shape, bool)
    peaks[iy, ix] = image[iy, ix] == _patches(image, iy, ix, 2, "symmetric").max(axis=(1, 2))
    return peaks


def _measure_psf_term(excess, source, err, pixels, peaks_snr=PSF_PEAKS_SNR):
    """Excess of bright peaks over the official threshold, relative to the peak.

    ``excess`` gives data - background - blot less the official (loose) threshold at pixel indices
    (a function of (iy, ix)), ``source`` is the blot minus background, ``pixels`` (iy, ix) its 5x5
    local maxima (where :func:`flux_agrees`); those above ``peaks_snr`` x err count.
    Returns the 98th percentile of the largest excess in each peak's 3x3 over the peak, or 0 when
    fewer than 5 peaks exist.
    """
    iy, ix = pixels
    bright = source[iy, ix] > peaks_snr * err[iy, ix]
    iy, ix = iy[bright], ix[bright]
    if iy.size < 5:
        return 0.0
    rows = _fold(iy[:, None] + np.arange(-1, 2), source.shape[0], "edge")
    cols = _fold(ix[:, None] + np.arange(-1, 2), source.shape[1], "edge")
    around = excess(np.repeat(rows, 3, axis=1), np.tile(cols, 3))  # each peak's 3x3, (n, 9)
    ratios = around.max(axis=1) / source[iy, ix]
    return float(max(0.0, np.percentile(ratios, PSF_TERM_PERCENTILE)))


def _patches(image, iy, ix, half, mode="edge"):
    """(n, 2 half + 1, 2 half + 1) cut-outs of ``image`` centred on pixels (iy, ix), edges repeated
    (``mode`` "edge") or mirrored ("symmetric", scipy.ndimage's "reflect"), as from ``np.pad``."""
    offsets = np.arange(-half, half + 1)
    rows = _fold(np.asarray(iy)[:, None] + offsets, image.shape[0], mode)
    cols = _fold(np.asarray(ix)[:, None] + offsets, image.shape[1], mode)
    return image[rows[:, :, None], cols[:, None, :]]


def _fold(index, n, mode):
    """Indices beyond 0..n-1 taken back inside by repeating ("edge") or mirroring ("symmetric")."""
    if mode == "edge":
        return np.clip(index, 0, n - 1)
    index = np.where(index < 0, -index - 1, index)
    return np.where(index >= n, 2 * n - 1 - index, index)


def laplacian_significance(image, noise, rows=64):
    """L.A.Cosmic's Laplacian (van Dokkum 2001) in units of the noise, before its 5x5 median is removed.

    The Laplacian of the 2x-subsampled image, negative values clipped and block-averaged back, is
    for each pixel the mean over its four quadrants of max(0, 2 d - vertical - horizontal neighbour)
    (edges repeated); divided by 2 x the noise as in L.A.Cosmic. Computed ``rows`` rows at a time,
    so that the temporaries stay in the processor's cache.
    """
    p = np.pad(image, 1, mode="edge")
    out = np.empty(np.shape(image), np.result_type(image, noise))
    for r0 in range(0, out.shape[0], rows):
        block = p[r0 : r0 + rows + 2]
        centre = block[1:-1, 1:-1]
        # d - each neighbour; a quadrant is (d - vertical) + (d - horizontal)
        left, right = centre - block[1:-1, :-2], centre - block[1:-1, 2:]
        lap = np.zeros_like(centre)
        quadrant = np.empty_like(centre)
        for v in (block[:-2, 1:-1], block[2:, 1:-1]):
            vertical = centre - v
            for h in (left, right):
                np.add(vertical, h, out=quadrant)
                lap += np.maximum(quadrant, 0.0, out=quadrant)
        out[r0 : r0 + rows] = lap / (8.0 * noise[r0 : r0 + rows])
    return out


def laplacian_statistics(image, noise, significance, iy, ix):
    """L.A.Cosmic's statistics at pixels (iy, ix): significance less its 5x5 median, fine structure
    (3x3 median less the 7x7 median of 3x3 medians, in noise units, at least 0.01), and how far the
    pixel sticks out of its 3x3 median (noise units)."""
    n = iy.size
    sig = significance[iy, ix] - np.median(_patches(significance, iy, ix, 2).reshape(n, 25), axis=1)
    m3 = np.median(
        np.lib.stride_tricks.sliding_window_view(_patches(image, iy, ix, 4), (3, 3), axis=(1, 2)).reshape(
            n, 7, 7, 9
        ),
        axis=3,
    )
    centre = m3[:, 3, 3]
    fine = np.clip((centre - np.median(m3.reshape(n, 49), axis=1)) / noise[iy, ix], 0.01, None)
    stickout = (image[iy, ix] - centre) / noise[iy, ix]
    return sig, fine, stickout


# Variance of the mean of the lowest 6 of 8 independent unit normals (Monte Carlo).
LOWEST6_VARIANCE = 0.138
TEMPLATES_MAX = 64
# Relative error allowed on a template (the stars' phases sample the PSF's unevenly).
TEMPLATE_ERROR = 0.15  # brightest stars kept as PSF templates
SCALE_STEPS = np.linspace(0.05, 1.0, 12)  # trial star peaks, in units of the pixel's value
# Without enough stars to take templates from, a pixel-integrated Gaussian this wide (pixels) at
# these phases: sharper than NIRCam's F070W.
SHARPEST_FWHM = 0.8


def _psf_templates(image, noise, peaks, snr=PSF_PEAKS_SNR, min_sources=10):
    """The exposure's own PSF at many sub-pixel phases: the 3x3 stamps (divided by their peak) of
    the brightest local maxima of ``image`` at or next to ``peaks`` above ``snr`` x noise (at most
    ``TEMPLATES_MAX``) whose profile is measured (the mean of their lowest 6 neighbours 5 sigma
    above the sky), with their variances (noise, and ``TEMPLATE_ERROR`` of the template). ``peaks``
    should be sources confirmed by other exposures, with no cosmic ray flagged near them: one
    cosmic ray among the templates would make every cosmic ray of its shape fit. With fewer than
    ``min_sources``, a pixel-integrated Gaussian of ``SHARPEST_FWHM`` at 9 phases (sharper than
    any NIRCam PSF, so stars are kept; cosmic rays are found less well).
    Unusable pixels must be +inf in ``image``. Returns (templates, variances), each (m, 9).
    """
    if peaks.any():
        iy, ix = np.nonzero(peaks)
        finite = np.where(np.isfinite(image), image, -np.inf)
        best = _patches(finite, iy, ix, 1).reshape(iy.size, 9).argmax(axis=1)
        iy = np.clip(iy + best // 3 - 1, 0, image.shape[0] - 1)
        ix = np.clip(ix + best % 3 - 1, 0, image.shape[1] - 1)
        iy, ix = np.unique(np.stack([iy, ix]), axis=1)
        stamps = _patches(image, iy, ix, 1).reshape(iy.size, 9)
        sigma = _patches(noise, iy, ix, 1).reshape(iy.size, 9)
        peak = stamps[:, 4]
        # a profile measured around the peak: the lowest 6 neighbours 5 sigma above the sky (a
        # cosmic ray's lowest neighbours are sky: single pixels, thin tracks, cores with 2 hits)
        lowest6 = np.sort(np.delete(stamps, 4, axis=1), axis=1)[:, :6].mean(axis=1)
        good = np.isfinite(stamps).all(axis=1) & (peak > snr * sigma[:, 4]) & (stamps.argmax(axis=1) == 4)
        good &= lowest6 > 5.0 * np.sqrt(LOWEST6_VARIANCE) * np.median(sigma, axis=1)
        if good.sum() >= min_sources:
            order = np.argsort(peak[good])[::-1][:TEMPLATES_MAX]
            stamps, sigma, peak = stamps[good][order], sigma[good][order], peak[good][order]
            stamps = stamps / peak[:, None]
            return stamps, (sigma / peak[:, None]) ** 2 + (TEMPLATE_ERROR * stamps) ** 2
    return _gaussian_templates()


def _gaussian_templates(fwhm=SHARPEST_FWHM):
    """3x3 stamps (peak 1) of a pixel-integrated Gaussian of ``fwhm`` pixels at 9 phases within
    half a pixel of the centre, and their variances (``TEMPLATE_ERROR``)."""
    from scipy.special import erf

    out = []
    width = fwhm / 2.3548 * np.sqrt(2.0)
    for dy in (-0.5, 0.0, 0.5):
        for dx in (-0.5, 0.0, 0.5):
            lx = np.diff(erf((np.arange(-1, 3) - 0.5 - dx) / width))
            ly = np.diff(erf((np.arange(-1, 3) - 0.5 - dy) / width))
            stamp = np.outer(ly, lx)
            out.append((stamp / stamp[1, 1]).ravel())
    out = np.array(out)
    return out, (TEMPLATE_ERROR * out) ** 2


def _sharper_than_psf(image, noise, iy, ix, templates, excluded=None, chunk=2048):
    """How many sigma pixels (iy, ix) are sharper than any star: for each, the smallest over the
    PSF ``templates`` (:func:`_psf_templates`) and trial peaks a (``SCALE_STEPS`` x the pixel's value)
    of the one-sided misfit sqrt(sum of (d - a T)^2 / (noise^2 + a^2 var_T)) over its 3x3, where
    only the pixel above a star and its neighbours below one count. A source broader than the PSF
    (a galaxy) or a star, at any phase, fits; a pixel whose neighbours are darker than every star's
    would be, in whatever direction (a single pixel, a track at any angle, a core with dimmer
    neighbours), does not. Neighbours that are +inf in ``image`` (unusable or already flagged) do
    not count.
    """
    # in the image's precision (float32 images: float32 arithmetic, half the memory traffic)
    dtype = np.result_type(image.dtype, np.float32)
    stamps, var_t = (t.astype(dtype) for t in templates)
    out = np.empty(iy.size)
    for start in range(0, iy.size, chunk):
        sl = slice(start, start + chunk)
        d = _patches(image, iy[sl], ix[sl], 1).reshape(-1, 9)
        sigma2 = _patches(noise, iy[sl], ix[sl], 1).reshape(-1, 9) ** 2
        counted = np.isfinite(d) & np.isfinite(sigma2)
        if excluded is not None:
            counted &= ~_patches(excluded, iy[sl], ix[sl], 1).reshape(-1, 9)
            counted[:, 4] = True
        d = np.where(counted, d, 0.0)
        sigma2 = np.where(counted, sigma2, 1.0)
        best = np.full(d.shape[0], np.inf)
        for scale in SCALE_STEPS.tolist():
            a = scale * d[:, 4, None, None]  # trial peaks, (n, 1, 1)
            resid = np.minimum(d[:, None, :] - a * stamps[None], 0.0)  # (n, m, 9)
            # the centre, where every template is 1, counts above the star: d (1 - scale) if > 0
            resid[:, :, 4] = np.maximum((1.0 - scale) * d[:, 4, None], 0.0)
            weight = counted[:, None, :] / (sigma2[:, None, :] + a**2 * var_t[None])
            best = np.minimum(best, (resid**2 * weight).sum(axis=2).min(axis=1))
        out[sl] = np.sqrt(best)
    return out


def _single_coverage_cosmic_rays(image, err, usable, candidates, templates, settings: FlagSettings):
    """Cosmic rays among ``candidates`` (pixels only this exposure covers), of any shape.

    ``image`` is the exposure less its background, ``templates`` the PSF's (:func:`_psf_templates_at`
    on bright sources, confirmed by other exposures if enough).
    A core has L.A.Cosmic's Laplacian significance (van Dokkum 2001) above ``lacosmic_sigclip``
    and above ``lacosmic_objlim`` x its fine structure, and stands ``lacosmic_sharpness`` x its
    noise above what the PSF allows given its lowest neighbours (:func:`_sharper_than_psf`: all 8
    for a single pixel, the lowest of them or of its sides for tracks and cores with hit
    neighbours), which the
    cores and rings of stars do not. Cores are then grown, repeatedly (up to
    ``GROW_ITERATIONS``), to 3x3 neighbours with significance above ``sigfrac x sigclip`` (or
    themselves ``sigclip`` x their noise above the sky: a pixel amid brighter hit ones) that
    are ``GROW_SHARPNESS x lacosmic_sharpness`` sharper than the PSF once the flagged pixels are left out of
    their neighbours, and themselves ``sigfrac x sigclip`` x their noise above the sky (not a noise
    pixel beside a cosmic ray): so a track is followed to its ends. Statistics are computed only near
    candidates. Unusable pixels are neither cores nor grown into nor counted as neighbours, so a
    hot pixel's neighbours are not taken for a cosmic ray.
    """
    mask = np.zeros(image.shape, bool)
    rows, cols = np.nonzero(candidates.any(axis=1))[0], np.nonzero(candidates.any(axis=0))[0]
    if rows.size == 0:
        return mask
    # Within the candidates' bounding box and a margin that every statistic's reach fits in (edges
    # stay the exposure's).
    m = CROP_MARGIN
    box = np.s_[max(rows[0] - m, 0) : rows[-1] + m + 1, max(cols[0] - m, 0) : cols[-1] + m + 1]
    mask[box] = _single_coverage_in_box(
        image[box], err[box], usable[box], candidates[box], templates, settings
    )
    return mask


def _source_cosmic_rays(image, err, usable, cores, grows, templates, threshold):
    """Cosmic rays among ``cores`` (pixels on sources that the official rule would flag and the
    curvature and PSF terms let through) where several exposures overlap.

    ``image`` is the exposure less its background, ``templates`` the PSF's (:func:`_psf_templates_at`).
    A core is ``threshold`` sigma sharper than every template at every trial peak
    (:func:`_sharper_than_psf`), which a star's core or ring, at any sub-pixel phase, is not. Cores
    are then grown, repeatedly (up to ``GROW_ITERATIONS``), into 3x3 neighbours that ``grows``
    accepts (a function of pixel indices (iy, ix) giving booleans: what the official loose
    threshold would flag) and that are ``GROW_SHARPNESS x threshold`` sharper once the flagged
    pixels are left out of their neighbours. Unusable pixels do not count as neighbours. Returns the
    boolean mask.
    """
    mask = np.zeros(image.shape, bool)
    iy, ix = np.nonzero(cores)
    if iy.size == 0:
        return mask
    clean = np.where(usable, image, np.inf)
    noise = np.where(usable & (err > 0), err, np.inf)
    keep = _sharper_than_psf(clean, noise, iy, ix, templates) > threshold
    mask[iy[keep], ix[keep]] = True
    _grow(mask, iy[keep], ix[keep], grows, clean, noise, templates, GROW_SHARPNESS * threshold)
    return mask


def _grow(mask, fy, fx, accepts, clean, noise, templates, threshold):
    """Grow ``mask`` (in place) from the pixels (fy, fx) flagged last, repeatedly (up to
    ``GROW_ITERATIONS``), into their unflagged 3x3 neighbours that ``accepts`` (a function of pixel
    indices (gy, gx) giving booleans) and that are ``threshold`` sigma sharper than the PSF once the
    flagged pixels are left out of their neighbours (:func:`_sharper_than_psf`; ``clean`` and
    ``noise`` +inf where unusable). Neighbours rejected once are tried again as more are flagged."""
    ny, nx = mask.shape
    steps = np.array([(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx])
    for _ in range(GROW_ITERATIONS):
        gy = np.clip((fy[:, None] + steps[:, 0]).ravel(), 0, ny - 1)
        gx = np.clip((fx[:, None] + steps[:, 1]).ravel(), 0, nx - 1)
        gy, gx = np.unique(np.stack([gy, gx]), axis=1)
        ok = ~mask[gy, gx]
        ok[ok] = accepts(gy[ok], gx[ok])
        gy, gx = gy[ok], gx[ok]
        if gy.size == 0:
            return
        ok = _sharper_than_psf(clean, noise, gy, gx, templates, mask) > threshold
        fy, fx = gy[ok], gx[ok]
        mask[fy, fx] = True


def _psf_templates_at(image, err, usable, py, px):
    """:func:`_psf_templates` from the peaks at (py, px), reading only the pixels around them."""
    if py.size == 0:
        return _psf_templates(np.zeros((1, 1)), np.ones((1, 1)), np.zeros((1, 1), bool))
    lo_y, hi_y = max(py.min() - 2, 0), py.max() + 3
    lo_x, hi_x = max(px.min() - 2, 0), px.max() + 3
    sub = np.s_[lo_y:hi_y, lo_x:hi_x]
    use = usable[sub]
    clean = np.where(use, image[sub], np.inf)
    noise = np.where(use & (err[sub] > 0), err[sub], np.inf)
    peaks = np.zeros(clean.shape, bool)
    peaks[py - lo_y, px - lo_x] = True
    return _psf_templates(clean, noise, peaks)


def _single_coverage_in_box(image, err, usable, candidates, templates, settings: FlagSettings):
    """:func:`_single_coverage_cosmic_rays` on a cut-out, with the PSF templates given."""
    sigclip, sigfrac = settings.lacosmic_sigclip, settings.lacosmic_sigfrac
    threshold = settings.lacosmic_sharpness
    noise = np.where(usable & (err > 0), err, np.inf)
    significance = laplacian_significance(image, noise)
    # The median subtracted from the significance is >= 0, so this keeps every possible core.
    iy, ix = np.nonzero(candidates & usable & (significance > sigclip))
    mask = np.zeros(image.shape, bool)
    if iy.size == 0:
        return mask
    clean = np.where(usable, image, np.inf)
    sig, fine, _ = laplacian_statistics(image, noise, significance, iy, ix)
    # a core is the brightest pixel of its 3x3 (a track's other pixels are reached by growing)
    # and CORE_CONTRAST x the median of its 7x7 (not in the wings or rings of a bright source);
    # on a source (that median ON_SOURCE x noise above the sky) also L.A.Cosmic's fine-structure
    # test, which keeps the rings of bright stars (on empty sky it would miss tracks)
    cut = _patches(clean, iy, ix, 3).reshape(iy.size, 49)
    value = image[iy, ix]
    inner = np.where(np.isfinite(cut[:, INNER_3X3]), cut[:, INNER_3X3], -np.inf)
    local = np.median(np.where(np.isfinite(cut), cut, value[:, None]), axis=1)
    on_source = local > ON_SOURCE * noise[iy, ix]
    core = (sig > sigclip) & (~on_source | (sig / fine > settings.lacosmic_objlim))
    core &= (inner.max(axis=1) <= value) & (value > CORE_CONTRAST * local)
    core[core] = _sharper_than_psf(clean, noise, iy[core], ix[core], templates) > threshold
    mask[iy[core], ix[core]] = True

    def accepts(gy, gx):
        """Unflagged neighbours that are candidates, usable, above the noise and either significant
        in the Laplacian or bright on their own (amid brighter hit pixels it is negative)."""
        ok = candidates[gy, gx] & usable[gy, gx]
        if not ok.any():
            return ok
        gy, gx = gy[ok], gx[ok]
        gsig = significance[gy, gx] - np.median(
            _patches(significance, gy, gx, 2).reshape(gy.size, 25), axis=1
        )
        bright = image[gy, gx] / noise[gy, gx]
        ok[ok] = (bright > sigfrac * sigclip) & ((gsig > sigfrac * sigclip) | (bright > sigclip))
        return ok

    _grow(mask, iy[core], ix[core], accepts, clean, noise, templates, GROW_SHARPNESS * threshold)
    return mask


def _off_spikes(mask, diff, noise, coverage, usable, thresholds, directions, reach):
    """``mask`` less the excess that runs along a diffraction spike.

    For each flagged pixel where two or more exposures overlap, the excess ``diff`` (data -
    background - blot) that continues along any of ``directions`` (the spike lines' unit vectors
    on the detector) ``reach`` pixels to both sides (:func:`.spikes.along_lines`) is the exposure's
    own spike (or a part of it that the median lacks); where it is above ``SPIKE_SNR`` x
    ``noise``, the pixel is tested again on ``diff`` less ``1 + SPIKE_TOLERANCE`` times it against
    the (strict, loose) ``thresholds`` (callables of pixel indices giving MJy/sr): it stays flagged
    if it passes the loose one next to a pixel that passes the strict one, or next to a flagged
    pixel off the spikes (a cosmic ray on a spike stays found). Other pixels keep their flags.
    """
    iy, ix = np.nonzero(mask & (coverage >= 2))
    along = along_lines(np.where(usable, diff, np.nan), iy, ix, directions, reach)
    spike = along > SPIKE_SNR * noise[iy, ix]
    if not spike.any():
        return mask
    iy, ix, along = iy[spike], ix[spike], along[spike]
    residual = diff[iy, ix] - (1.0 + SPIKE_TOLERANCE) * along
    strict, loose = (residual > threshold(iy, ix) for threshold in thresholds)
    out = mask.copy()
    out[iy, ix] = False
    cores = out.copy()
    cores[iy[strict], ix[strict]] = True
    near = maximum_3x3(cores)
    keep = loose & near[iy, ix]
    out[iy[keep], ix[keep]] = True
    return out


def flag_outliers(
    data, err, blotted, coverage, background, settings: FlagSettings, usable=None, spike_directions=None
):
    """Boolean mask of outliers in an exposure, and the psf_term used: [elsewhere, where two overlap].

    ``data`` and ``err`` are the exposure's SCI and ERR, ``blotted`` the median seen from it (sky
    subtracted), ``coverage`` the number of exposures in that median, ``background`` the sky level
    the exposure still contains, ``usable`` the pixels that may be used (default: finite data),
    ``spike_directions`` the diffraction spikes' directions on the detector (:mod:`.spikes`; None:
    no spike test).
    Official scheme: a pixel is flagged when it exceeds the loose threshold (snr[1], scale[1]) and a
    pixel of its 3x3 neighbourhood exceeds the strict one (snr[0], scale[0]); see the module
    docstring for what is added. Unusable pixels are never flagged.
    """
    (snr1, snr2), (scale1, scale2) = (
        threshold_pair(settings.snr, "snr"),
        threshold_pair(settings.scale, "scale"),
    )
    usable = np.isfinite(data) & np.isfinite(err) if usable is None else usable & np.isfinite(data)
    diff = data - background - settings.backg - blotted
    slope = _abs_derivative(blotted)
    deriv = slope + settings.curvature * _abs_curvature(blotted)
    sub = np.s_[::2, ::2]  # the difference's noise from every second pixel in each direction
    with np.errstate(all="ignore"):
        z = diff[sub] / err[sub]
    quiet = usable[sub] & (deriv[sub] < err[sub]) & np.isfinite(z)
    noise = err * _difference_noise(z, coverage[sub], quiet, int(coverage.max()) + 1)[coverage]
    # the blot's sky level, from every second pixel in each direction
    source = blotted - np.nanmedian(blotted[::2, ::2])
    source_max = maximum_3x3(source)
    if settings.derivative_noise > 0:
        sky_usable = usable & (coverage >= 2)
        deriv = _sky_derivative_less_noise(deriv, source_max, err, sky_usable, settings.derivative_noise)
    # 5x5 local maxima of the blot are needed only among bright pixels (psf_term, confirmed peaks)
    # that are maxima of their 3x3.
    peaks = local_maxima_5x5(source, (source > min(8.0, PSF_PEAKS_SNR) * err) & (source >= source_max))
    loose_base = snr2 * noise + scale2 * deriv
    # Where two overlap the reference is the lower one, which undersampled peaks fall further below.
    pairs = coverage == 2
    if settings.psf_term is None:

        def excess(iy, ix):
            return diff[iy, ix] - loose_base[iy, ix]

        py, px = np.nonzero(peaks)
        agreed = flux_agrees(diff, source, pixels=(py, px))
        # Measured where three or more overlap (elsewhere) and where two do; never where one exposure
        # alone makes the median, whose cosmic rays the blot holds, smoothed, as sources.
        psf_term = [
            _measure_psf_term(excess, source, err, (py[g], px[g]))
            for g in (agreed & (coverage[py, px] >= 3), agreed & (coverage[py, px] == 2))
        ]
        psf_term[1] = max(psf_term)
    else:
        psf_term = [settings.psf_term] * 2
    # The allowance is for sources: less one ERR, the 3x3 maximum of the blot's noise on the sky.
    local_peak = np.clip(source_max - err, 0.0, None)
    extra = local_peak * psf_term[0]  # (in the images' precision)
    extra[pairs] = local_peak[pairs] * psf_term[1]
    strict = diff > snr1 * noise + scale1 * deriv + extra
    loose = diff > loose_base + extra
    mask = maximum_3x3(strict) & loose
    mask &= coverage >= 2
    # What the official rule flags (its derivative term alone) and the curvature and PSF terms let
    # through, above the blot (a cosmic ray adds flux): on a source, a cosmic ray unless a star fits.
    several = usable & (coverage >= 2) & ~mask
    cores = several & (diff > snr1 * noise + scale1 * slope)
    single = coverage <= 1
    single_crs = settings.single_coverage_crs and single.any()
    if cores.any() or single_crs:
        image = data - background
        # stars confirmed by other exposures, not where a cosmic ray was flagged
        confirmed = peaks & (source > 8 * err) & (coverage >= 2) & usable & ~maximum_3x3(maximum_3x3(mask))
        py, px = np.nonzero(confirmed)
        templates = _psf_templates_at(image, err, usable, py, px)

        def grows(iy, ix):  # what the official loose threshold would flag
            return several[iy, ix] & (diff[iy, ix] > snr2 * noise[iy, ix] + scale2 * slope[iy, ix])

        mask |= _source_cosmic_rays(image, err, usable, cores, grows, templates, settings.source_sharpness)
        if single_crs:
            mask |= _single_coverage_cosmic_rays(image, err, usable, single, templates, settings)
    if spike_directions is not None and settings.spike_reach > 0 and mask.any():
        thresholds = [
            lambda iy, ix, snr=snr, scale=scale: snr * noise[iy, ix] + scale * deriv[iy, ix] + extra[iy, ix]
            for snr, scale in ((snr1, scale1), (snr2, scale2))
        ]
        mask = _off_spikes(
            mask, diff, noise, coverage, usable, thresholds, spike_directions, settings.spike_reach
        )
    return mask & usable, psf_term
