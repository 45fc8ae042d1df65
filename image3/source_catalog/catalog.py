"""Source catalog of a mosaic: detection, deblending and photometry with photutils.

Conventions: positions are 0-based mosaic pixels (x along columns); fluxes are in Jy (the mosaic's
MJy/sr times the pixel solid angle), magnitudes AB (``-2.5 log10(flux / 3631 Jy)``) and Vega
(AB minus the ABVEGAOFFSET value); angles in degrees. Columns follow the official catalog
(``_cat.ecsv``) plus Kron photometry (``kron_flux`` at 2.5 Kron radii and ``kron_total_flux``, the
aperture grown until the flux converges, on a sky measured without the sources' faint wings:
:func:`_total_flux_sky`, and for a source on a brighter one less that one's light model:
:func:`_kron_total`) and ``flags`` (:mod:`.saturation`: saturated sources,
whose fluxes are NaN).

Steps: background (image3.utils.background, ``bkg_boxsize`` boxes, as the official step), detection
on the background-subtracted image smoothed with a Gaussian of ``kernel_fwhm`` at ``snr_threshold``
times the background RMS, optional deblending, then the measurements (:func:`measure`). Several bands
on one grid share one segmentation (:func:`_detection_image`, forced photometry). As the official
step, the circular apertures and their local background (``aper_bkg_flux``, :func:`local_background`)
are measured on the mosaic as it is, the background map not taken off, and the DAOFind sharpness and
roundness at each source's position (:func:`_daofind_statistics`). A mosaic without any pixel with
data gives no sources, with a warning, as the official step.
"""

import logging
import warnings
from dataclasses import dataclass, replace

import numpy as np
from astropy import units as u
from astropy.convolution import convolve
from astropy.coordinates import SkyCoord
from astropy.stats import SigmaClip, gaussian_fwhm_to_sigma, sigma_clipped_stats
from astropy.table import QTable
from astropy.utils.exceptions import AstropyUserWarning
from photutils.aperture import CircularAperture, EllipticalAperture, aperture_photometry
from photutils.segmentation import SourceCatalog, deblend_sources, detect_sources
from scipy import ndimage
from scipy.spatial import cKDTree

from ..errors import InputError
from ..tweakreg.source_finding import smoothing_kernel
from ..utils.background import background_map
from ..utils.psf_width import PIVOT_MICRON, PIXEL_BOX_FWHM, detection_fwhm
from .aperture_reference import (
    ApertureParams,
    NoMatchingRows,
    apertures_from_mosaic,
    point_sources,
    read_abvega_offset,
    read_apcorr,
)
from .saturation import SATURATED, fill_cores, saturated_cores, saturation_flags
from .settings import CatalogSettings

__all__ = [
    "AB_ZEROPOINT_JY",
    "abmag",
    "BandImage",
    "local_background",
    "measure",
    "multiband_catalog",
    "nearest_neighbours",
    "segment",
    "single_band_catalog",
    "source_positions",
    "sky_orientation",
    "source_catalog",
]

AB_ZEROPOINT_JY = 3631.0
ARCSEC2_PER_SR = (180.0 / np.pi * 3600.0) ** 2

log = logging.getLogger("image3")


@dataclass
class BandImage:
    """One band of a mosaic, ready to measure: ``data`` and ``err`` in Jy per pixel.

    ``mask`` marks pixels without data (no coverage); ``pixel_scale`` is the mosaic's in arcsec and
    ``pixel_scale_ratio`` its ratio to the detector's; ``name`` labels the band's columns in a
    multi-band catalog; ``context`` the mosaic's CON array (which exposures each pixel holds),
    None if unknown; ``sky`` the background map taken off ``data`` (:func:`_subtract_background`).
    """

    data: np.ndarray
    err: np.ndarray
    mask: np.ndarray
    wcs: object
    filter: str
    pupil: str
    pixel_scale_ratio: float
    pixel_scale: float
    name: str = ""
    context: np.ndarray | None = None  # the mosaic's CON: bit k of plane j set = exposure 32 j + k
    sky: np.ndarray | None = None  # the background map subtracted from data (Jy per pixel), if any

    @property
    def unsubtracted(self):
        """``data`` with the subtracted background map added back (zero where ``mask``): the
        image the official step measures its aperture photometry and local background on."""
        if self.sky is None:
            return self.data
        return np.where(self.mask, 0.0, self.data + self.sky)

    @property
    def psf_fwhm(self):
        """The filter's PSF FWHM in mosaic pixels, as drizzled (None for unknown filters)."""
        if self.filter.upper() not in PIVOT_MICRON:
            return None
        native = self.pixel_scale / self.pixel_scale_ratio
        detector = detection_fwhm(self.filter, native)
        return float(np.hypot(detector, PIXEL_BOX_FWHM)) / self.pixel_scale_ratio

    @classmethod
    def from_model(cls, model):
        """From an ``_i2d`` ImageModel (SCI and ERR in MJy/sr)."""
        if model.meta.bunit_data != "MJy/sr":
            raise InputError(f"{model.meta.filename}: SCI is in {model.meta.bunit_data!r}, expected MJy/sr")
        area_sr = model.meta.photometry.pixelarea_steradians
        if not area_sr:
            raise InputError(f"{model.meta.filename}: no pixel area (PIXAR_SR) to convert MJy/sr to Jy")
        to_jy = 1e6 * area_sr
        mask = ~np.isfinite(model.data) | ~np.isfinite(model.err) | (model.wht <= 0)
        return cls(
            data=np.where(mask, 0.0, model.data * to_jy),
            err=np.where(mask, 0.0, model.err * to_jy),
            mask=mask,
            wcs=model.meta.wcs,
            filter=model.meta.instrument.filter or "",
            pupil=model.meta.instrument.pupil or "",
            pixel_scale_ratio=model.meta.resample.pixel_scale_ratio or 1.0,
            pixel_scale=float(np.sqrt(model.meta.photometry.pixelarea_arcsecsq or area_sr * ARCSEC2_PER_SR)),
            name=(model.meta.instrument.filter or "").lower(),
            context=_context_array(model),
        )

    def coverage_at(self, x, y):
        """Number of exposures holding mosaic pixels (x, y) (0-based integer arrays), from CON;
        None without it."""
        if self.context is None:
            return None
        con = self.context.reshape(-1, *self.data.shape)
        values = con[:, np.asarray(y, int), np.asarray(x, int)].astype(np.uint32)
        return _popcount(values).sum(axis=0)


def _context_array(model):
    """The CON array of an _i2d model as (planes, ny, nx), or None when absent or of another shape."""
    con = getattr(model, "con", None)
    if con is None or np.ndim(con) not in (2, 3) or np.shape(con)[-2:] != np.shape(model.data):
        return None
    return np.asarray(con)


def _popcount(x):
    """Number of set bits of each uint32 (SWAR bit counting, vectorised)."""
    x = x - ((x >> 1) & np.uint32(0x55555555))
    x = (x & np.uint32(0x33333333)) + ((x >> 2) & np.uint32(0x33333333))
    x = (x + (x >> 4)) & np.uint32(0x0F0F0F0F)
    return ((x * np.uint32(0x01010101)) & np.uint32(0xFFFFFFFF)) >> 24


def segment(image, rms, mask, settings: CatalogSettings):
    """Segmentation of a background-subtracted image; returns (segmentation or None, smoothed image).

    Pixels are source pixels where the image smoothed with ``kernel_fwhm`` exceeds ``snr_threshold``
    x ``rms``; sources need ``npixels`` connected pixels; deblending by multi-thresholding and
    watershed when ``deblend``.
    """
    smoothed = convolve(image, smoothing_kernel(settings.kernel_fwhm), mask=mask, nan_treatment="fill")
    threshold = settings.snr_threshold * rms
    segm = detect_sources(
        smoothed, threshold, settings.npixels, connectivity=settings.connectivity, mask=mask
    )
    if segm is not None and settings.deblend:
        segm = deblend_sources(
            smoothed,
            segm,
            settings.npixels,
            n_levels=settings.nlevels,
            contrast=settings.contrast,
            mode=settings.mode,
            connectivity=settings.connectivity,
            relabel=True,
            progress_bar=False,
        )
    return segm, smoothed


def _detection_image(images, rms_images, masks):
    """Combined significance image of several bands on one grid (background-subtracted inputs).

    Each band is divided by its background RMS and the bands are summed with weight 1 / sqrt(n), so
    the result has unit noise where all bands have data and a point source present in every band is
    more significant than in any one. Pixels without data in every band are masked.
    """
    mask = np.logical_or.reduce(masks)
    snr = [
        np.where(m, 0.0, d / np.where(r > 0, r, np.inf))
        for d, r, m in zip(images, rms_images, masks, strict=True)
    ]
    return np.sum(snr, axis=0) / np.sqrt(len(snr)), mask


def abmag(flux, flux_err):
    """AB magnitude and its error for fluxes in Jy (NaN for fluxes <= 0)."""
    flux = np.asarray(flux, float)
    with np.errstate(invalid="ignore", divide="ignore"):
        mag = np.where(flux > 0, -2.5 * np.log10(flux / AB_ZEROPOINT_JY), np.nan)
        err = np.where(flux > 0, 2.5 * np.log10(1.0 + np.asarray(flux_err, float) / flux), np.nan)
    return mag, err


def local_background(data, mask, positions, apertures: ApertureParams):
    """The official local background of each source (Jy per pixel) and its standard error.

    As the official step: the pixels whose centres lie at ``skyin`` <= r < ``skyout`` from each
    (x, y) position (photutils' "center" method), all of them, sources included, except those
    without data (``mask``; NaN in an official mosaic), clipped at 3 sigma about their median (at
    most 5 rounds, per source); the median of the N pixels kept and its standard error
    sqrt(pi / 2N) x their standard deviation. NaN where no pixel is left. The APCORR file's
    corrections are defined for this sky: a star's own wings in the annulus count as sky.
    """
    values = _annulus_values(data, positions, apertures.skyin, apertures.skyout)
    rows, cols = values["rows"], values["cols"]
    kept = np.where(values["inside"] & ~mask[rows, cols], values["data"], np.nan)
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", AstropyUserWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        kept = SigmaClip(sigma=3.0)(kept, axis=1, masked=False)
        n = np.isfinite(kept).sum(axis=1)
        median, std = np.nanmedian(kept, axis=1), np.nanstd(kept, axis=1)
        return median, np.sqrt(np.pi / (2.0 * n)) * std


def _annulus_values(data, positions, r_in, r_out):
    """Pixels of the annulus r_in <= r < r_out (pixel centres) around each (x, y) position.

    Returns ``rows``, ``cols`` (n_sources, n_box) indices into ``data`` (clipped to it), ``inside``
    (in the annulus and the image, finite data) and ``data`` (float64 values) over each position's
    bounding box of the outer circle.
    """
    reach = int(np.ceil(r_out)) + 1
    offsets = np.arange(-reach, reach + 1)
    x, y = positions[:, 0:1], positions[:, 1:2]
    ix = (np.floor(x + 0.5).astype(int) + offsets)[:, None, :]
    iy = (np.floor(y + 0.5).astype(int) + offsets)[:, :, None]
    r2 = (ix - x[:, :, None]) ** 2 + (iy - y[:, :, None]) ** 2
    ny, nx = data.shape
    inside = (r2 < r_out**2) & ~(r2 < r_in**2) & (ix >= 0) & (ix < nx) & (iy >= 0) & (iy < ny)
    n = len(positions)
    rows = np.broadcast_to(np.clip(iy, 0, ny - 1), inside.shape).reshape(n, -1)
    cols = np.broadcast_to(np.clip(ix, 0, nx - 1), inside.shape).reshape(n, -1)
    values = data[rows, cols].astype(float)
    inside = inside.reshape(n, -1) & np.isfinite(values)
    return {"rows": rows, "cols": cols, "inside": inside, "data": values}


def _aperture_fluxes(band: BandImage, positions, apertures: ApertureParams):
    """Columns of the local background (:func:`local_background`) and of the fluxes in each
    aperture (Jy) less it, and the aperture-corrected total from the largest aperture.

    As the official step, both on the mosaic as it is (``band.unsubtracted``: the background map
    that detection subtracts is not taken off), so ``aper_bkg_flux`` is the sky level around each
    source; pixels without data count zero in the apertures and are left out of the annulus. A
    flux's error adds the local background's error times the aperture's area in quadrature (the
    official error is the aperture sum's alone)."""
    image = band.unsubtracted
    bkg, bkg_err = local_background(image, band.mask, positions, apertures)
    columns = {"aper_bkg_flux": bkg, "aper_bkg_flux_err": bkg_err}
    circles = [CircularAperture(positions, r) for r in apertures.radii]
    phot = aperture_photometry(image, circles, error=band.err, mask=band.mask)
    for k, (ee, circle) in enumerate(zip(apertures.ee, circles, strict=True)):
        area = circle.area
        flux = np.asarray(phot[f"aperture_sum_{k}"]) - bkg * area
        err = np.hypot(np.asarray(phot[f"aperture_sum_err_{k}"]), bkg_err * area)
        columns[f"aper{ee}_flux"], columns[f"aper{ee}_flux_err"] = flux, err
    last = apertures.ee[-1]
    columns["aper_total_flux"] = apertures.apcorr[-1] * columns[f"aper{last}_flux"]
    columns["aper_total_flux_err"] = apertures.apcorr[-1] * columns[f"aper{last}_flux_err"]
    return columns


def _daofind_kernel(kernel_fwhm):
    """The official DAOFind kernel of ``kernel_fwhm`` (pixels) and its circular footprint.

    A Gaussian of that FWHM sampled at pixel centres, peak 1, cut to the pixels within
    max(2, 1.5 sigma) of the centre (the footprint, on a square of side 2 int(max(2, 1.5 sigma))
    + 1), then made zero-sum in the footprint and scaled so that its convolution with a Gaussian
    of the same width is that Gaussian's height (DAOFind's best-fitting height)."""
    sigma = kernel_fwhm * gaussian_fwhm_to_sigma
    reach = max(2.0, 1.5 * sigma)
    half = int(reach)
    yy, xx = np.mgrid[-half : half + 1, -half : half + 1]
    footprint = np.hypot(xx, yy) <= reach
    gauss = np.exp(-(xx**2 + yy**2) / (2 * sigma**2)) * footprint
    n = footprint.sum()
    denominator = np.sum(gauss**2) - gauss.sum() ** 2 / n
    return (gauss - gauss.sum() / n) / denominator * footprint, footprint


def _daofind_statistics(data, positions, kernel_fwhm):
    """The official DAOFind sharpness and roundness of the sources at ``positions`` ((x, y) pixels).

    As the official step: the data convolved with :func:`_daofind_kernel` (zero beyond the image),
    and cut-outs of the data and of the convolved data of the kernel's size centred on the pixel
    holding each position (the nearest, halves rounded down; zero beyond the image). Sharpness:
    (the centre pixel - the mean of the footprint's other pixels) / the convolved centre pixel;
    roundness: twice the ratio of the bilateral to the four-fold symmetry sums of the convolved
    cut-out without its centre pixel (0 for round sources). NaN for positions off the image.

    ``data`` is background subtracted and zero where there are no data: the kernel and the
    sharpness' numerator sum to zero, so the sky drops out (to its curvature), and a source beside
    pixels without data gets a value where the official statistics are NaN.
    """
    kernel, footprint = _daofind_kernel(kernel_fwhm)
    half = kernel.shape[0] // 2
    convolved = ndimage.convolve(data, kernel, mode="constant", cval=0.0)
    ny, nx = data.shape
    centre = np.ceil(np.asarray(positions, float) - 0.5)
    on_image = (centre[:, 0] >= 0) & (centre[:, 0] < nx) & (centre[:, 1] >= 0) & (centre[:, 1] < ny)
    ix = np.where(on_image, centre[:, 0], 0).astype(int)
    iy = np.where(on_image, centre[:, 1], 0).astype(int)
    yy, xx = np.mgrid[-half : half + 1, -half : half + 1]
    rows, cols = iy[:, None, None] + yy + half, ix[:, None, None] + xx + half
    cut, cut_conv = np.pad(data, half)[rows, cols], np.pad(convolved, half)[rows, cols]
    peak, conv_peak = cut[:, half, half], cut_conv[:, half, half].copy()
    mean_others = ((cut * footprint).sum(axis=(1, 2)) - peak) / (footprint.sum() - 1)
    cut_conv[:, half, half] = 0.0
    quad1 = cut_conv[:, : half + 1, half + 1 :].sum(axis=(1, 2))
    quad2 = cut_conv[:, :half, : half + 1].sum(axis=(1, 2))
    quad3 = cut_conv[:, half:, :half].sum(axis=(1, 2))
    quad4 = cut_conv[:, half + 1 :, half:].sum(axis=(1, 2))
    four_fold = np.abs(cut_conv).sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        sharpness = (peak - mean_others) / conv_peak
        roundness = 2.0 * (-quad1 + quad2 - quad3 + quad4) / np.where(four_fold == 0, np.nan, four_fold)
    return np.where(on_image, sharpness, np.nan), np.where(on_image, roundness, np.nan)


def nearest_neighbours(labels, positions):
    """Label of and distance (pixels) to each source's nearest neighbour (NaN with one source)."""
    if len(labels) < 2:
        return np.full(len(labels), -1), np.full(len(labels), np.nan)
    dist, idx = cKDTree(positions).query(positions, k=2)
    return np.asarray(labels)[idx[:, 1]], dist[:, 1]


def sky_orientation(wcs, positions, orientation_deg):
    """Position angle (deg east of north) of each source's major axis, from its pixel orientation
    (deg counter-clockwise from +x)."""
    theta = np.deg2rad(np.asarray(orientation_deg, float))
    x, y = positions[:, 0], positions[:, 1]
    ra0, dec0 = wcs(x, y, with_bounding_box=False)
    ra1, dec1 = wcs(x + np.cos(theta), y + np.sin(theta), with_bounding_box=False)
    pa = SkyCoord(ra0, dec0, unit="deg").position_angle(SkyCoord(ra1, dec1, unit="deg")).deg
    return np.mod(pa, 180.0)


def _photometry_columns(band, positions, segm, segm_cat, apertures, abvega_offset, box_size):
    """The band-dependent columns (fluxes in Jy, magnitudes, concentration indices, Kron flux);
    ``box_size``: the background boxes (pixels), for the total-flux sky."""
    cols = _aperture_fluxes(band, positions, apertures)
    names = [f"aper{e}" for e in apertures.ee] + ["aper_total"]
    for kind in ("abmag", "vegamag"):
        for name in names:
            mag, err = abmag(cols[f"{name}_flux"], cols[f"{name}_flux_err"])
            cols[f"{name}_{kind}"] = mag if kind == "abmag" else mag - abvega_offset
            cols[f"{name}_{kind}_err"] = err
    e1, e2, e3 = apertures.ee
    with np.errstate(invalid="ignore", divide="ignore"):
        cols[f"CI_{e2}_{e1}"] = cols[f"aper{e2}_flux"] / cols[f"aper{e1}_flux"]
        cols[f"CI_{e3}_{e2}"] = cols[f"aper{e3}_flux"] / cols[f"aper{e2}_flux"]
        cols[f"CI_{e3}_{e1}"] = cols[f"aper{e3}_flux"] / cols[f"aper{e1}_flux"]
    iso, iso_err = np.asarray(segm_cat.segment_flux), np.asarray(segm_cat.segment_flux_err)
    cols["isophotal_flux"], cols["isophotal_flux_err"] = iso, iso_err
    mag, err = abmag(iso, iso_err)
    cols["isophotal_abmag"], cols["isophotal_abmag_err"] = mag, err
    cols["isophotal_vegamag"], cols["isophotal_vegamag_err"] = mag - abvega_offset, err
    cols["kron_flux"] = np.asarray(segm_cat.kron_flux)
    cols["kron_flux_err"] = np.asarray(segm_cat.kron_flux_err)
    image = band.data - _total_flux_sky(band, segm, box_size)
    total, total_err = _kron_total(segm_cat, positions, image, band.err, band.mask, segm.data)
    cols["kron_total_flux"], cols["kron_total_flux_err"] = total, total_err
    mag, err = abmag(total, total_err)
    cols["kron_total_abmag"], cols["kron_total_abmag_err"] = mag, err
    cols["kron_total_vegamag"], cols["kron_total_vegamag_err"] = mag - abvega_offset, err
    return cols


# The Kron apertures' scales (x the Kron radius) of kron_total_flux: from photutils' (and the
# official step's) 2.5 outwards, with photutils' minimum Kron radius; and the growth below which
# the flux has converged (relative), unless the noise is larger.
KRON_SCALES = (2.5, 3.0, 3.5, 4.0, 5.0)
KRON_MIN_RADIUS = 1.4
KRON_CONVERGED = 0.01


# The total-flux sky (:func:`_total_flux_sky`): the side (pixels) of the box that smooths the
# image, the threshold (x the smoothed image's noise) of faint light, the growth of the masked
# area (share of the pixels with data) below which the masking has converged, the most rounds,
# and the fewest sky pixels to measure on.
LOW_SB_SMOOTH = 25
LOW_SB_SNR = 1.5
LOW_SB_CONVERGED = 0.01
LOW_SB_MAX_ROUNDS = 10
MIN_SKY_PIXELS = 100


def _total_flux_sky(band: BandImage, segm, box_size):
    """The sky left in ``band`` (background subtracted, Jy per pixel) under the sources, for total
    fluxes: the background map (``box_size`` boxes) again, without the segments and the faint
    light around them, the pixels where the image box-smoothed over ``LOW_SB_SMOOTH`` pixels, less
    the sky, exceeds its clipped median by ``LOW_SB_SNR`` times its clipped standard deviation (the
    smoothed image's noise). A sky too high hides the faintest wings, so masking and measuring
    alternate until the masked area grows by less than ``LOW_SB_CONVERGED`` of the pixels with data
    (at most ``LOW_SB_MAX_ROUNDS`` rounds). Zeros if fewer than ``MIN_SKY_PIXELS`` sky pixels are
    left at the first round.

    The catalog's background map (the official recipe, kept for detection and the apertures) is a
    clipped median over every pixel of a box: the wings of large sources below the detection
    threshold, spread over much of a mosaic, raise it (a galaxy of AB 16 and r_eff 3.3" on 1024^2:
    10.3 mJy/sr above the true sky; -0.3 so). That error times a Kron aperture of a large galaxy
    (near 10^6 pixels) is 10 % of its flux, and the growth of the aperture stops where the wings
    drop below it. Smoothing lowers the noise by up to the box's side, so wings well below the
    pixel noise are seen. At 2 sigma the faintest wings stay in (a real-sky demo mosaic, its galaxy
    of AB 16 and r_eff 3.5" among saturated stars: 3 mJy/sr above the true sky under the galaxy,
    0.3 at 1.5); at 1 sigma the masking eats into the noise round after round (the 1024^2 field:
    -1.3 mJy/sr). Where the sky itself has structure (1/f stripes, gradients, wisps) the smoothed
    image's noise is larger and more of the wings stay in, and a sky lower under a large source
    than around it is not seen (another demo mosaic: 256.4 mJy/sr, the sky under its galaxy
    249-252, around it 257).
    """
    sources = segm.data > 0
    count = ndimage.uniform_filter((~band.mask).astype(float), LOW_SB_SMOOTH)
    if (~sources & ~band.mask).sum() < MIN_SKY_PIXELS:
        return np.zeros_like(band.data)
    for _ in range(LOW_SB_MAX_ROUNDS):
        sky = background_map(band.data, band.mask, box_size, sources=sources)[0]
        residual = np.where(band.mask, 0.0, band.data - sky)
        with np.errstate(invalid="ignore", divide="ignore"):
            smoothed = ndimage.uniform_filter(residual, LOW_SB_SMOOTH) / count
        _, centre, noise = sigma_clipped_stats(smoothed[~sources & ~band.mask & (count > 0.5)])
        grown = sources | (smoothed - centre > LOW_SB_SNR * noise)
        added = (grown & ~sources & ~band.mask).sum()
        if (~grown & ~band.mask).sum() < MIN_SKY_PIXELS:
            break
        sources = grown
        if added < LOW_SB_CONVERGED * (~band.mask).sum():
            break
    return sky


def _kron_total(segm_cat, positions, image, err, mask, segm_data):
    """Total flux and error of each source (Jy): :func:`_grown_kron_fluxes` on ``image`` (the data
    less the total-flux sky, :func:`_total_flux_sky`); ``err`` is its error, ``mask`` the pixels
    without data, ``segm_data`` the segmentation map. The sources lying on a brighter one (a host,
    :func:`_hosts`) are measured again on the image less the hosts' light models
    (:func:`_subtract_host_model`), with the hosts' pixels as their sky: the total-flux sky is
    the sky around the sources, and a star's Kron ellipse on a large galaxy otherwise holds the
    galaxy's light (field sources of AB < 24 within 20" of a galaxy of AB 16 and r_eff 3.3" on
    1024^2: 4.51 times their flux on average, 0.99 so; the real-sky demo's: 4.00 and 1.11).

    The centre is the catalog's position (:func:`source_positions`) rather than the segment's
    centroid: a large galaxy's segment is cut unevenly by the watershed pieces of the sources on
    its wings, which moves its centroid (18 pixels for an r_eff of 105) and off-centre rings fill
    those pieces too faintly."""
    labels = np.atleast_1d(np.asarray(segm_cat.label))
    shape = _kron_shape(segm_cat, positions)
    hosts, inside = _hosts(shape, np.atleast_1d(np.asarray(segm_cat.segment_flux, float)))
    flux, flux_err = np.full((2, len(labels)), np.nan)
    alone = np.flatnonzero(~inside)
    flux[alone], flux_err[alone] = _subset_fluxes(shape, labels, alone, image, err, mask, segm_data)
    if len(hosts) == 0:
        return flux, flux_err
    peeled = np.array(image, float)
    for k in hosts:
        _subtract_host_model(shape, labels, k, peeled, mask, segm_data)
    children = np.flatnonzero(inside)
    # the hosts' pixels are sky for the sources on them once their light is off
    segm_data = np.where(np.isin(segm_data, labels[hosts]), 0, segm_data)
    flux[children], flux_err[children] = _subset_fluxes(shape, labels, children, peeled, err, mask, segm_data)
    return flux, flux_err


def _subset_fluxes(shape, labels, index, image, err, mask, segm_data):
    """:func:`_grown_kron_fluxes` of the sources ``index`` only."""
    subset = {key: value[index] for key, value in shape.items()}
    return _grown_kron_fluxes(subset, labels[index], image, err, mask, segm_data)


def _grown_kron_fluxes(shape, labels, image, err, mask, segm_data):
    """Flux and error in each source's Kron ellipse (``shape``, :func:`_kron_shape`) scaled by the
    first of ``KRON_SCALES`` where growing to the next scale adds less than ``KRON_CONVERGED`` of
    the flux or less than the added noise, else by the largest. The Kron flux at 2.5 misses the
    wings of profiles more extended than exponential (about 7 % of a Sersic n = 2). Each aperture's
    sum is :func:`_filled_aperture_flux`'s. Each larger aperture is measured only for the sources
    still growing (most converge at the first step)."""
    flux, err_out = _kron_fluxes(shape, labels, KRON_SCALES[0], image, err, mask, segm_data)
    growing = np.flatnonzero(np.isfinite(flux))
    for scale in KRON_SCALES[1:]:
        if len(growing) == 0:
            break
        subset = {key: value[growing] for key, value in shape.items()}
        larger, larger_err = _kron_fluxes(subset, labels[growing], scale, image, err, mask, segm_data)
        with np.errstate(invalid="ignore"):
            added_noise = np.sqrt(np.abs(larger_err**2 - err_out[growing] ** 2))
            converged = ~(larger - flux[growing] >= np.maximum(added_noise, KRON_CONVERGED * np.abs(larger)))
        flux[growing[~converged]], err_out[growing[~converged]] = larger[~converged], larger_err[~converged]
        growing = growing[~converged]
    return flux, err_out


# A host (:func:`_hosts`): a source whose largest total-flux aperture holds the position of a source
# with at most this share of its segment flux.
HOST_FLUX_RATIO = 0.2


def _hosts(shape, segment_flux):
    """The hosts, brightest first (indices), and whether each source lies on a host (boolean).

    From the brightest segment (``segment_flux``) down, a source not on a host yet is a host when
    its largest Kron ellipse (``KRON_SCALES[-1]``) holds the position of at least one source with
    at most ``HOST_FLUX_RATIO`` of its segment flux; those lie on it (and are no hosts).

    Flux rather than size: deblending gives a faint source on a large galaxy a broad watershed
    piece of the galaxy's light, whose moments make its Kron ellipse nearly as large as the
    galaxy's (and its segment flux up to 0.13 of the galaxy's)."""
    known = np.isfinite(shape["centre"]).all(axis=1) & np.isfinite(shape["a"]) & (shape["b"] > 0)
    known &= np.isfinite(segment_flux)
    index = np.flatnonzero(known)
    index = index[np.argsort(-segment_flux[index], kind="stable")]
    inside = np.zeros(len(shape["a"]), bool)
    hosts = []
    if len(index) < 2:
        return np.asarray(hosts, int), inside
    centre, flux = shape["centre"][index], segment_flux[index]
    neighbours = cKDTree(centre).query_ball_point(centre, KRON_SCALES[-1] * shape["a"][index])
    for i, near in enumerate(neighbours):
        if inside[index[i]]:
            continue
        near = np.asarray([j for j in near if j > i and flux[j] <= HOST_FLUX_RATIO * flux[i]], int)
        on = near[_scaled_radius(shape, index[i], centre[near]) <= KRON_SCALES[-1]] if len(near) else near
        if len(on):
            hosts.append(index[i])
            inside[index[on]] = True
    return np.asarray(hosts, int), inside


def _scaled_radius(shape, k, points):
    """Elliptical radius of ``points`` ((n, 2) pixels) in source ``k``'s Kron ellipse at scale 1."""
    d = points - shape["centre"][k]
    theta = shape["theta"][k]
    along = d[:, 0] * np.cos(theta) + d[:, 1] * np.sin(theta)
    across = -d[:, 0] * np.sin(theta) + d[:, 1] * np.cos(theta)
    return np.hypot(along / shape["a"][k], across / shape["b"][k])


def _subtract_host_model(shape, labels, k, image, mask, segm_data):
    """Take host ``k``'s light model (:func:`_light_model`: its pixels with data, the rest filled)
    off ``image`` in place, over its largest Kron ellipse (``KRON_SCALES[-1]``) reshaped to the
    light's own (:func:`_light_shape`; exact overlap).

    Its segment's moments give the real-sky demo's galaxy an axis ratio of 0.58 (its light: 0.8,
    reshaped: 0.69); the model's cells, along that ellipse, then leave more of the galaxy under
    the faint sources near its centre (field sources within 20": 1.21 of their flux on average,
    1.11 reshaped)."""
    scale = KRON_SCALES[-1]
    centre, a = shape["centre"][k], shape["a"][k] * scale
    cut = _host_cutout(centre, a, shape["b"][k] * scale, shape["theta"][k], labels[k], image, mask, segm_data)
    if cut is None:
        return
    ratio, theta = _light_shape(cut, KRON_SCALES[0] / scale)
    cut = _host_cutout(centre, a, ratio * a, theta, labels[k], image, mask, segm_data)
    if cut is None:
        return
    aperture, apmask, big, small, data, good = cut
    model = _light_model(aperture, apmask.bbox, data, good) * apmask.data
    image[big] -= model[small]


def _host_cutout(centre, a, b, theta, label, image, mask, segm_data):
    """(aperture, its exact mask, the image's and the mask's overlap slices, the image on the
    mask's box (NaN beyond the image), its good pixels: with data, in segment ``label`` or in
    none) of an ellipse of semi-axes ``a``, ``b`` (pixels) and orientation ``theta`` (rad); None
    where it has no good pixel."""
    aperture = EllipticalAperture(centre, a, b, theta=theta)
    apmask = aperture.to_mask(method="exact")
    big, small = apmask.get_overlap_slices(image.shape)
    if big is None:
        return None
    data = np.full(apmask.shape, np.nan)
    data[small] = image[big]
    segment = np.zeros(apmask.shape, int)
    segment[small] = segm_data[big]
    good = np.zeros(apmask.shape, bool)
    good[small] = ~mask[big] & ((segment[small] == 0) | (segment[small] == label))
    good &= np.isfinite(data)
    return (aperture, apmask, big, small, data, good) if good.any() else None


# The axis ratios of a host's reshaped ellipse (:func:`_light_shape`).
MIN_AXIS_RATIO = 0.1


def _light_shape(cut, inner):
    """Axis ratio (at least ``MIN_AXIS_RATIO``) and orientation (rad) of a source's light from
    its :func:`_host_cutout`: the second moments about the centre of its pixels with data, the rest
    filled (:func:`_light_model`), in the ellipse ``inner`` times the cut's size, negative values
    counted zero. The cut's own ellipse where the moments are undefined."""
    aperture, apmask, _, _, data, good = cut
    box = apmask.bbox
    rows, cols = np.mgrid[box.iymin : box.iymax, box.ixmin : box.ixmax]
    radius, _ = _elliptical_polar(aperture, cols, rows)
    light = np.where(good, data, _light_model(aperture, box, data, good))
    weights = np.where(radius <= inner * aperture.a, np.clip(light, 0.0, None), 0.0)
    if not weights.sum() > 0:
        return aperture.b / aperture.a, aperture.theta.to_value(u.rad)
    dx, dy = cols - aperture.positions[0], rows - aperture.positions[1]
    moments = np.array([[dx * dx, dx * dy], [dx * dy, dy * dy]])
    values, vectors = np.linalg.eigh((moments * weights).sum(axis=(2, 3)) / weights.sum())
    ratio = np.sqrt(max(values[0], 0.0) / values[1]) if values[1] > 0 else aperture.b / aperture.a
    return max(ratio, MIN_AXIS_RATIO), float(np.arctan2(vectors[1, 1], vectors[0, 1]))


def _kron_shape(segm_cat, positions):
    """Each source's centre (``positions``, pixels), Kron ellipse semi-axes at scale 1 (pixels:
    the Kron radius, at least ``KRON_MIN_RADIUS``, times the semi-axes) and orientation (rad)."""
    radius = np.maximum(np.atleast_1d(segm_cat.kron_radius.value), KRON_MIN_RADIUS)
    return {
        "centre": np.where(positions > -1000, positions, np.nan),
        "a": radius * np.atleast_1d(segm_cat.semimajor_axis.value),
        "b": radius * np.atleast_1d(segm_cat.semiminor_axis.value),
        "theta": np.atleast_1d(segm_cat.orientation.to_value(u.rad)),
    }


def _kron_fluxes(shape, labels, scale, image, err, mask, segm_data):
    """Flux and error (NaN for unknown shapes) in each source's Kron aperture at ``scale``."""
    out = np.full((2, len(labels)), np.nan)
    sizes = np.column_stack([shape["a"], shape["b"]]) * scale
    known = np.isfinite(shape["centre"]).all(axis=1) & np.isfinite(sizes).all(axis=1) & (sizes[:, 1] > 0)
    for k in np.flatnonzero(known):
        aperture = EllipticalAperture(shape["centre"][k], *sizes[k], theta=shape["theta"][k])
        out[:, k] = _filled_aperture_flux(aperture, labels[k], image, err, mask, segm_data)
    return out[0], out[1]


def _filled_aperture_flux(aperture, label, image, err, mask, segm_data):
    """Flux and error in ``aperture`` (photutils' exact overlap) of source ``label``, with the
    pixels of other segments and those without data (``mask``, or beyond the image) filled with
    the mean of the source's other pixels with data on the same ellipse (:func:`_ring_means` of
    1-pixel rings along the major axis, of the aperture's shape).

    photutils' Kron photometry (``aperture_mask_method="correct"``) takes a masked pixel's mirror
    image through the centroid and counts zero where that is masked too: under a large galaxy with
    many sources and saturated stars on it (the real-sky demo's, noise-free) 0.908 of its flux is
    left in 5 Kron radii, against 0.985 with nothing masked (0.96 so filled). The error is that of
    the pixels with data, scaled to the aperture's area."""
    apmask = aperture.to_mask(method="exact")
    box = apmask.bbox
    data = np.full(apmask.shape, np.nan)
    noise = np.zeros(apmask.shape)
    bad = np.ones(apmask.shape, bool)
    big, small = apmask.get_overlap_slices(image.shape)
    if big is None:
        return np.nan, np.nan
    data[small], noise[small] = image[big], err[big]
    segment = segm_data[big]
    bad[small] = mask[big] | ((segment != 0) & (segment != label))
    bad |= ~np.isfinite(data)
    weights = apmask.data
    if not (weights * ~bad).any():
        return np.nan, np.nan
    if bad.any():
        data = np.where(bad, _light_model(aperture, box, data, ~bad), data)
    area, good_area = weights.sum(), (weights * ~bad).sum()
    variance = (weights * ~bad * noise**2).sum() * area / good_area
    return float((weights * data).sum()), float(np.sqrt(variance))


# The cells of a source's light model (:func:`_light_model`): 1-pixel elliptical rings, each cut
# into this many sectors of equal angle on the ellipse.
MODEL_SECTORS = 12


def _light_model(aperture, box, data, good):
    """The smooth light of the source in ``aperture`` on its bounding box ``box``: the clipped mean
    (:func:`_clipped_means`) of the ``good`` pixels of ``data`` in the same cell, the cells 1-pixel
    rings along the ellipse's major axis, each cut into ``MODEL_SECTORS`` sectors (the angle on the
    ellipse); cells without good pixels are filled from the ring's other sectors
    (:func:`_fill_cells`).

    Sectors follow a profile whose isophotes are not the aperture's ellipse: a large galaxy's
    moments, from a segment that the watershed pieces of the sources on it cut unevenly, give an
    axis ratio of 0.58 where its light has 0.8 (the real-sky demo's galaxy). Its light alone
    (noise-free) in its total-flux aperture, the other segments filled, is 0.966 of its flux with
    12 sectors and 0.933 with rings alone (0.975 with nothing to fill)."""
    rows, cols = np.mgrid[box.iymin : box.iymax, box.ixmin : box.ixmax]
    radius, angle = _elliptical_polar(aperture, cols, rows)
    rings = np.floor(radius).astype(int)
    sectors = np.minimum((angle / (2 * np.pi) * MODEL_SECTORS).astype(int), MODEL_SECTORS - 1)
    n_rings = rings.max() + 1
    cells = rings * MODEL_SECTORS + sectors
    cell_mean = _clipped_means(cells, data, good, n_rings * MODEL_SECTORS).reshape(n_rings, MODEL_SECTORS)
    return _fill_cells(cell_mean, _ring_means(data, rings, good))[rings, sectors]


def _fill_cells(cell_mean, ring_mean):
    """``cell_mean`` ((rings, sectors)) with its empty cells (NaN) filled: from the ring's nearest
    sectors with data on either side (linear in angle, periodic), or the ring's mean
    (``ring_mean``) where none has data."""
    n = cell_mean.shape[1]
    tiled = np.tile(cell_mean, 3)
    index = np.arange(3 * n)
    known = np.isfinite(tiled)
    left = np.maximum.accumulate(np.where(known, index, -1), axis=1)[:, n : 2 * n]
    right = np.minimum.accumulate(np.where(known, index, 3 * n)[:, ::-1], axis=1)[:, ::-1][:, n : 2 * n]
    rows = np.arange(len(cell_mean))[:, None]
    low, high = tiled[rows, np.clip(left, 0, None)], tiled[rows, np.clip(right, None, 3 * n - 1)]
    share = (index[n : 2 * n] - left) / np.maximum(right - left, 1)
    filled = low + (high - low) * share
    return np.where(left >= 0, filled, ring_mean[:, None])


def _clipped_means(labels, values, good, n, sigma=3.0):
    """Mean of the ``good`` ``values`` per label (0 to n - 1), clipped once at ``sigma`` standard
    deviations about it; NaN for labels without good values."""
    labels, values = labels[good], values[good]
    mean, std = _label_stats(labels, values, n)
    inside = np.abs(values - mean[labels]) <= sigma * std[labels]
    return _label_stats(labels[inside], values[inside], n)[0]


def _ring_means(data, rings, good, sigma=3.0):
    """Mean of the ``good`` pixels of each ring (``rings``: integer labels from 0), clipped once at
    ``sigma`` standard deviations about it; rings without good pixels interpolated between their
    neighbours (by label)."""
    n = rings.max() + 1
    mean = _clipped_means(rings, data, good, n, sigma)
    index = np.arange(n)
    known = np.isfinite(mean)
    return np.interp(index, index[known], mean[known])


def _label_stats(labels, values, n):
    """Mean and standard deviation of ``values`` per label (0 to n - 1; NaN for labels without)."""
    count = np.bincount(labels, minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.bincount(labels, values, n) / count
        std = np.sqrt(np.bincount(labels, (values - mean[labels]) ** 2, n) / count)
    return mean, std


def _elliptical_polar(aperture, x, y):
    """Elliptical radius of pixels (x, y) in the shape of ``aperture`` (an EllipticalAperture), in
    pixels along its major axis, and their angle on the ellipse (the eccentric anomaly, 0 to 2 pi
    rad from the major axis)."""
    x0, y0 = aperture.positions
    dx, dy = x - x0, y - y0
    theta = aperture.theta.to_value(u.rad)
    along = dx * np.cos(theta) + dy * np.sin(theta)
    across = (-dx * np.sin(theta) + dy * np.cos(theta)) * aperture.a / aperture.b
    return np.hypot(along, across), np.mod(np.arctan2(across, along), 2 * np.pi)


def source_catalog(band: BandImage, segm, smoothed, settings: CatalogSettings, segm_cat=None):
    """photutils' catalog of ``band`` in the segments of ``segm`` (centroids from the data smoothed
    with the detection kernel); ``segm_cat`` given: its centroids and shapes are used instead
    (forced photometry on a detection image)."""
    return SourceCatalog(
        band.data,
        segm,
        convolved_data=smoothed,
        error=band.err,
        mask=band.mask,
        wcs=band.wcs,
        local_bkg_width=settings.localbkg_width,
        detection_catalog=segm_cat,
        progress_bar=False,
    )


def _unit(name):
    """Unit of a photometry column: magnitudes or Jy."""
    return u.mag if "mag" in name else u.Jy


# The official defaults, used when the mosaic has too few point sources to derive its own.
OFFICIAL_CI_THRESHOLDS = (2.0, 1.8)
MIN_LOCUS_STARS = 5
# The edges of the point-source locus: this percentile of their CI (and 100 minus it), widened by
# LOCUS_MARGIN (relative).
LOCUS_PERCENTILE = 95.0
LOCUS_MARGIN = 0.01


def _star_thresholds(
    ci1, ci2, segm, segm_cat, band: BandImage, settings: CatalogSettings, fallback=OFFICIAL_CI_THRESHOLDS
):
    """The concentration-index thresholds of ``is_extended`` (extended: CI_ee2_ee1 above the first
    and CI_ee3_ee2 above the second, as the official step).

    Each threshold the user sets (``ci1_star_threshold``, ``ci2_star_threshold``) is kept; one left
    null is derived from the mosaic's own point-source locus, the bright, isolated, point-like
    sources that the curve of growth uses (:func:`.aperture_reference.point_sources`): the
    second threshold is the upper edge of their CI_ee3_ee2 (``LOCUS_PERCENTILE``, widened by
    ``LOCUS_MARGIN``), the first the lower edge of their CI_ee2_ee1, so it rules out only sources
    sharper than any point source (on an undersampled PSF the sub-pixel phase spreads CI_ee2_ee1 as
    wide as small galaxies'). With fewer than ``MIN_LOCUS_STARS`` such sources, the official
    defaults (2.0, 1.8) (``fallback``; None: no warning, None returned), with a warning. Returns
    (ci1, ci2).
    """
    user = (settings.ci1_star_threshold, settings.ci2_star_threshold)
    if None not in user:
        return user
    stars, _ = point_sources(segm.data, segm_cat, band.mask, band.psf_fwhm)
    out = []
    for value, ci, official in zip(user, (ci1, ci2), fallback or (None, None), strict=True):
        if value is not None:
            out.append(float(value))
            continue
        locus = np.asarray(ci)[stars] if len(stars) else np.zeros(0)
        locus = locus[np.isfinite(locus)]
        if locus.size < MIN_LOCUS_STARS:
            if official is None:
                out.append(None)
                continue
            log.warning(
                "%s: %d point sources for the star/galaxy locus (need %d): official CI threshold %.2f",
                band.filter,
                locus.size,
                MIN_LOCUS_STARS,
                official,
            )
            out.append(official)
            continue
        if len(out) == 0:
            # CI_ee2_ee1 only rules out what is sharper than any point source (the lower edge of
            # the locus): on an undersampled PSF the sub-pixel phase spreads it as wide as galaxies'
            out.append(float(np.percentile(locus, 100 - LOCUS_PERCENTILE)) * (1 - LOCUS_MARGIN))
        else:
            # CI_ee3_ee2 above the upper edge of the locus
            out.append(float(np.percentile(locus, LOCUS_PERCENTILE)) * (1 + LOCUS_MARGIN))
    return tuple(out)


def measure(band: BandImage, segm, segm_cat, apertures, abvega_offset, settings: CatalogSettings, where):
    """The official catalog columns for ``band`` measured in the segments of ``segm``.

    ``segm_cat`` is ``band``'s photutils catalog (:func:`source_catalog`; with a detection catalog
    for forced photometry); ``where`` the sources' (pixel, sky) positions (:func:`source_positions`).
    Returns an astropy QTable with units.
    """
    positions, sky = where
    phot = _photometry_columns(
        band, positions, segm, segm_cat, apertures, abvega_offset, settings.bkg_boxsize
    )
    e1, e2, e3 = apertures.ee
    sharp, round_ = _daofind_statistics(band.data, positions, settings.kernel_fwhm)
    nn_label, nn_dist = nearest_neighbours(segm_cat.label, positions)
    table = QTable()
    table["label"] = np.asarray(segm_cat.label)
    table["xcentroid"] = positions[:, 0] * u.pix
    table["ycentroid"] = positions[:, 1] * u.pix
    table["sky_centroid"] = sky
    for name in ("aper_bkg_flux", "aper_bkg_flux_err"):
        table[name] = phot.pop(name) * u.Jy
    for name in [c for c in phot if c.startswith("aper")]:
        table[name] = phot.pop(name) * _unit(name)
    for name in (f"CI_{e2}_{e1}", f"CI_{e3}_{e2}", f"CI_{e3}_{e1}"):
        table[name] = phot.pop(name)
    ci1, ci2 = _star_thresholds(
        table[f"CI_{e2}_{e1}"], table[f"CI_{e3}_{e2}"], segm, segm_cat, band, settings
    )
    table["is_extended"] = (table[f"CI_{e2}_{e1}"] > ci1) & (table[f"CI_{e3}_{e2}"] > ci2)
    table.meta.update({"ci1_star_threshold": float(ci1), "ci2_star_threshold": float(ci2)})
    table["sharpness"] = sharp
    table["roundness"] = round_
    table["nn_label"] = nn_label
    table["nn_dist"] = nn_dist * u.pix
    for name, values in phot.items():
        table[name] = values * _unit(name)
    table["isophotal_area"] = np.asarray(segm_cat.area.value) * u.pix**2
    table["semimajor_sigma"] = np.asarray(segm_cat.semimajor_axis.value) * u.pix
    table["semiminor_sigma"] = np.asarray(segm_cat.semiminor_axis.value) * u.pix
    table["ellipticity"] = np.asarray(segm_cat.ellipticity)
    table["orientation"] = np.asarray(segm_cat.orientation.value) * u.deg
    table["sky_orientation"] = sky_orientation(band.wcs, positions, table["orientation"].value) * u.deg
    for corner in ("ll", "ul", "lr", "ur"):
        table[f"sky_bbox_{corner}"] = getattr(segm_cat, f"sky_bbox_{corner}")
    table.meta.update({"abvega_offset": float(abvega_offset), **apertures.to_meta()})
    return table


# A centroid this many detection kernel FWHMs from its segment's peak is pulled by light that is not
# the source's (isolated sources: well under half; the stars on the real-sky demo's galaxy: 2.5-13).
PULLED_FWHM = 1.0


def source_positions(band: BandImage, segm, segm_cat, smoothed, kernel_fwhm, saturated=None):
    """Each source's (x, y) position (pixels; -1000 where unknown) and sky position.

    The centroid of the segment (photutils' moments of the smoothed image ``smoothed``), except
    where it lies more than ``PULLED_FWHM`` detection kernel FWHMs from the segment's peak in the
    smoothed image: then the segment holds light that is not the source's (a star on a large
    galaxy, to which deblending's watershed gives a broad piece of the galaxy's wings) and the
    peak itself is used, refined by a parabola through it and its neighbours along each axis.
    Saturated sources (``saturated``, boolean per source) keep the centroid: their cores are
    missing and filled flat."""
    positions = np.column_stack([segm_cat.x_centroid, segm_cat.y_centroid])
    peaks = _smoothed_peaks(smoothed, segm.data, np.asarray(segm_cat.label))
    with np.errstate(invalid="ignore"):
        pulled = np.hypot(*(positions - peaks).T) > PULLED_FWHM * kernel_fwhm
    if saturated is not None:
        pulled &= ~np.asarray(saturated, bool)
    sky = segm_cat.sky_centroid
    if pulled.any():
        positions[pulled] = peaks[pulled]
        sky = sky.copy()
        sky[pulled] = band.wcs.pixel_to_world(peaks[pulled, 0], peaks[pulled, 1])
    return np.where(np.isfinite(positions), positions, -1000.0), sky


def _smoothed_peaks(smoothed, labels, index):
    """(x, y) of each segment's (``index``) brightest pixel in ``smoothed``, refined to a sub-pixel
    position by the vertex of the parabola through it and its two neighbours along each axis."""
    rows, cols = np.asarray(ndimage.maximum_position(smoothed, labels, index), float).reshape(-1, 2).T
    padded = np.pad(np.asarray(smoothed, float), 1, mode="edge")
    r, c = rows.astype(int) + 1, cols.astype(int) + 1
    centre = padded[r, c]
    shifts = []
    for lower, upper in ((padded[r, c - 1], padded[r, c + 1]), (padded[r - 1, c], padded[r + 1, c])):
        curvature = lower - 2 * centre + upper
        with np.errstate(invalid="ignore", divide="ignore"):
            shift = np.where(curvature < 0, 0.5 * (lower - upper) / curvature, 0.0)
        shifts.append(np.clip(shift, -0.5, 0.5))
    return np.column_stack([cols + shifts[0], rows + shifts[1]])


def _without_data(bands):
    """True, with a warning, when a band has no pixel with data (SCI and ERR finite, WHT > 0): an
    empty catalog, as the official step gives (it cannot measure a background either)."""
    empty = [b.filter or b.name for b in bands if b.mask.all()]
    if empty:
        log.warning("%s: no pixel with data (SCI and ERR finite, WHT > 0): no sources", ", ".join(empty))
    return bool(empty)


def _subtract_background(band: BandImage, box_size):
    """``band`` with its background subtracted (the map kept as ``sky``), and the background RMS
    image (Jy per pixel)."""
    bkg, rms = background_map(band.data, band.mask, box_size)
    return replace(band, data=band.data - bkg, sky=bkg), rms


def _band_apertures(band: BandImage, segm, segm_cat, ee, apcorr_path=None) -> ApertureParams:
    """Apertures from the APCORR file when given, else from the band's own curve of growth.

    An APCORR file without rows for the band's filter and pupil (or for an encircled energy of
    ``ee``) is passed over with a warning naming it, as if none was given (the official step
    writes no catalog then)."""
    if apcorr_path:
        try:
            return read_apcorr(apcorr_path, band.filter, band.pupil, ee, band.pixel_scale_ratio)
        except NoMatchingRows as err:
            log.warning("%s: apertures from the mosaic's own curve of growth instead", err)
    return apertures_from_mosaic(band.data, band.mask, segm.data, segm_cat, ee, band.psf_fwhm)


def _band_abvega_offset(band: BandImage, path=None) -> float:
    """m_AB - m_Vega of the band from the ABVEGAOFFSET file; 0 with a warning without one, or with
    one that has no row for the band's filter and pupil (the official step writes no catalog
    then)."""
    if path:
        try:
            return read_abvega_offset(path, band.filter, band.pupil)
        except NoMatchingRows as err:
            log.warning("%s: Vega magnitudes = AB", err)
            return 0.0
    log.warning("no ABVEGAOFFSET reference file (source_catalog.abvegaoffset): Vega magnitudes = AB")
    return 0.0


def single_band_catalog(band: BandImage, settings: CatalogSettings, apcorr=None, abvegaoffset=None):
    """Detect and measure one mosaic; returns (QTable, segmentation map, or (None, None) when no
    source is found). ``apcorr`` and ``abvegaoffset`` are reference file paths or None.

    Saturated cores (:mod:`.saturation`) are filled for detection, masked for the measurements, and
    their sources flagged (``flags``) with fluxes NaN. Dropped: sources whose centre lies at or
    beyond the data's edge (:func:`_centred_at_data_edge`) and cosmic rays left in where one
    exposure covers the sky (:func:`_single_coverage_sharp`).
    """
    if _without_data([band]):
        return None, None
    band, rms = _subtract_background(band, settings.bkg_boxsize)
    cores = saturated_cores(band.data, band.mask, rms, settings.snr_threshold)
    filled = fill_cores(band.data, cores)
    segm, smoothed = segment(filled, rms, band.mask & ~cores, settings)
    if segm is None:
        return None, None
    segm_cat = source_catalog(band, segm, smoothed, settings)
    apertures = _band_apertures(band, segm, segm_cat, settings.ee, apcorr)
    log.info("%s apertures: %s", band.filter, apertures.to_meta())
    flags = saturation_flags(segm.data, np.asarray(segm_cat.label), cores)
    where = source_positions(band, segm, segm_cat, smoothed, settings.kernel_fwhm, saturated=flags > 0)
    table = measure(band, segm, segm_cat, apertures, _band_abvega_offset(band, abvegaoffset), settings, where)
    _flag_saturated(table, flags)
    return _without(
        table,
        segm,
        band.filter,
        {
            "centred at or beyond the data's edge": _centred_at_data_edge(
                filled, band.mask & ~cores, segm, settings.kernel_fwhm
            ),
            "only one exposure sees and sharper than the PSF": _single_coverage_sharp(
                band, segm, segm_cat, table, apertures.ee
            ),
        },
    )


def _flag_saturated(table, flags):
    """Set the ``flags`` column (:mod:`.saturation`) and blank the photometry of the saturated
    sources (:func:`_blank_photometry`)."""
    table["flags"] = np.asarray(flags, np.int32)
    saturated = (table["flags"] & SATURATED) > 0
    _blank_photometry(table, saturated)
    if saturated.any():
        log.info("%d saturated sources flagged (flags %d), their fluxes NaN", saturated.sum(), SATURATED)


def _blank_photometry(table, rows, prefix=""):
    """NaN in the fluxes, magnitudes and concentration indices of ``rows`` (boolean) in the columns
    named ``prefix``... (a band's, in a multi-band catalog): a saturated source's core is missing,
    so no flux of its is whole. The local sky (``aper_bkg_flux``) is kept; ``is_extended`` is
    False (nothing is known of the profile's core)."""
    if not np.any(rows):
        return
    for name in table.colnames:
        short = name[len(prefix) :]
        if not name.startswith(prefix) or short.startswith("aper_bkg"):
            continue
        if short.endswith(("_flux", "_flux_err", "mag", "mag_err")) or short.startswith("CI_"):
            table[name][rows] = np.nan
        elif short == "is_extended":
            table[name][rows] = False


def _without(table, segm, name, reasons):
    """The catalog and segmentation map without the sources that any of ``reasons`` ({reason: boolean
    per source}) marks, with each reason's count logged; (None, None) when none is left."""
    drop = np.zeros(len(table), bool)
    for reason, marked in reasons.items():
        if (marked & ~drop).any():
            log.info("%s: %d sources %s dropped", name, (marked & ~drop).sum(), reason)
        drop |= marked
    if drop.all():
        return None, None
    dropped = np.asarray(table["label"])[drop]
    return table[~drop], np.where(np.isin(segm.data, dropped), 0, segm.data)


def _centred_at_data_edge(image, mask, segm, kernel_fwhm):
    """True for the segments whose centre lies at or beyond the data's edge (a source cut by the
    edge of the mosaic or of the exposures' footprint): their position, flux and shape are those
    of the part left in and cannot be measured.

    The centre of a source is where its image smoothed with the detection kernel peaks; here the
    kernel is normalised to the pixels with data (a weighted local mean, so the missing side does
    not pull the peak inwards). A segment whose peak lies on a pixel beside a pixel without data
    (``mask``) or on the array's border is centred at the edge or beyond it.
    """
    kernel = smoothing_kernel(kernel_fwhm)
    reach = kernel.shape[0] // 2
    nodata = np.pad(mask, reach, constant_values=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AstropyUserWarning)
        local_mean = convolve(
            np.pad(image, reach),
            kernel,
            mask=nodata,
            nan_treatment="interpolate",
            preserve_nan=False,
        )[reach:-reach, reach:-reach]
    beside = ndimage.binary_dilation(nodata, np.ones((3, 3), bool))[reach:-reach, reach:-reach] & ~mask
    peaks = ndimage.maximum_position(local_mean, segm.data, segm.labels)
    rows, cols = np.asarray(peaks, int).reshape(-1, 2).T
    return beside[rows, cols]


SHARP_PERCENTILE = 1.0
SHARP_MARGIN = 0.1


def _single_coverage_sharp(band: BandImage, segm, segm_cat, table, ee):
    """True for the sources that are cosmic rays left in the mosaic: only one exposure holds their
    brightest pixel (from CON) and they are sharper than any point source, their CI_ee2_ee1 more
    than ``SHARP_MARGIN`` below the ``SHARP_PERCENTILE`` percentile of the mosaic's bright isolated
    point sources' (:func:`.aperture_reference.point_sources`). False for everything else,
    and for every source without CON or without a locus."""
    none = np.zeros(len(table), bool)
    coverage = band.coverage_at(segm_cat.max_value_xindex, segm_cat.max_value_yindex)
    if coverage is None or not np.any(coverage == 1):
        return none
    e1, e2, _ = ee
    ci = np.asarray(table[f"CI_{e2}_{e1}"])
    stars, _ = point_sources(segm.data, segm_cat, band.mask, band.psf_fwhm)
    locus = ci[stars][np.isfinite(ci[stars])] if len(stars) else np.zeros(0)
    if locus.size < MIN_LOCUS_STARS:
        return none
    limit = float(np.percentile(locus, SHARP_PERCENTILE)) * (1 - SHARP_MARGIN)
    with np.errstate(invalid="ignore"):
        return (coverage == 1) & (ci < limit)


COMMON_COLUMNS = (
    "label",
    "xcentroid",
    "ycentroid",
    "sky_centroid",
    "nn_label",
    "nn_dist",
    "isophotal_area",
    "semimajor_sigma",
    "semiminor_sigma",
    "ellipticity",
    "orientation",
    "sky_orientation",
    "sky_bbox_ll",
    "sky_bbox_ul",
    "sky_bbox_lr",
    "sky_bbox_ur",
)


def multiband_catalog(bands, settings: CatalogSettings, apcorr=None, abvegaoffset=None):
    """Detect once on the combined significance of ``bands`` (one grid) and measure every band in
    the same segments (forced photometry).

    Positions and shapes come from the detection image; each band's photometric columns carry
    its name as a prefix (``f150w_aper_total_flux``). Returns (QTable, segmentation map) or
    (None, None).
    """
    shapes = {b.data.shape for b in bands}
    if len(shapes) != 1:
        raise InputError(
            f"multi-band catalog: the mosaics are on different grids {shapes} (resample.grid: common)"
        )
    names = [b.name for b in bands]
    if len(set(names)) != len(names):
        raise InputError(f"multi-band catalog: bands repeat {names}; one product per filter")
    if _without_data(bands):
        return None, None
    subtracted = [_subtract_background(b, settings.bkg_boxsize) for b in bands]
    image, mask = _detection_image(
        [b.data for b, _ in subtracted], [r for _, r in subtracted], [b.mask for b in bands]
    )
    det_rms = background_map(image, mask, settings.bkg_boxsize)[1]
    cores = saturated_cores(image, mask, det_rms, settings.snr_threshold)
    image = fill_cores(image, cores)
    segm, smoothed = segment(image, det_rms, mask & ~cores, settings)
    if segm is None:
        return None, None
    detection = replace(bands[0], data=image, err=np.ones_like(image), mask=mask, name="detection")
    det_cat = source_catalog(detection, segm, smoothed, settings)
    flags = saturation_flags(segm.data, np.asarray(det_cat.label), cores)
    where = source_positions(detection, segm, det_cat, smoothed, settings.kernel_fwhm, saturated=flags > 0)
    table = None
    for band, _ in subtracted:
        band_cat = source_catalog(band, segm, None, settings, det_cat)
        apertures = _band_apertures(band, segm, band_cat, settings.ee, apcorr)
        offset = _band_abvega_offset(band, abvegaoffset)
        measured = measure(band, segm, band_cat, apertures, offset, settings, where)
        if table is None:
            table = QTable([measured[c] for c in COMMON_COLUMNS])
        for name in measured.colnames:
            if name not in COMMON_COLUMNS:
                table[f"{band.name}_{name}"] = measured[name]
        table.meta[band.name] = dict(measured.meta)
        band_saturated = saturation_flags(segm.data, table["label"], cores & band.mask) > 0
        _blank_photometry(table, band_saturated, f"{band.name}_")
    table["flags"] = flags
    at_edge = _centred_at_data_edge(image, mask & ~cores, segm, settings.kernel_fwhm)
    return _without(table, segm, "detection image", {"centred at or beyond the data's edge": at_edge})
