"""Aperture radii, aperture corrections and the AB-to-Vega offset of the source catalog.

Radii are in pixels of the mosaic. They come from the official reference files when given:

- APCORR (FITS, HDU ``APCORR``): rows of ``filter``, ``pupil`` (NIRCam; MIRI's have ``subarray``
  instead), ``eefraction``, ``radius`` and ``skyin``/``skyout`` (native detector pixels) and
  ``apcorr`` (total flux / flux in the aperture after subtracting the sky measured in the
  skyin-skyout annulus);
- ABVEGAOFFSET (ASDF, table ``abvega_offset``): ``filter``, ``pupil``, ``abvega_offset`` = m_AB - m_Vega.

Without an APCORR file they are derived from the mosaic itself: the median curve of growth of bright,
isolated, point-like sources out to ``TOTAL_RADIUS_FWHM`` times their FWHM, with the sky from an annulus
beyond (:func:`_growth_curve_apertures`).
"""

import logging
from dataclasses import dataclass

import asdf
import numpy as np
from astropy.stats import SigmaClip
from astropy.table import Table
from photutils.aperture import ApertureStats, CircularAnnulus, CircularAperture, aperture_photometry

from ..errors import InputError

__all__ = [
    "ApertureParams",
    "NoMatchingRows",
    "apertures_from_mosaic",
    "point_sources",
    "read_abvega_offset",
    "read_apcorr",
]

log = logging.getLogger("image3")

# Without an APCORR file and too few stars for a curve of growth: the official fallback (radii in
# pixels, no aperture correction).
FALLBACK_RADII = (1.0, 2.0, 3.0)
FALLBACK_SKY = (5.0, 10.0)
# The curve of growth: its total is the flux within this many FWHM (an Airy pattern holds about 98 %
# of its flux within 10 FWHM), the sky comes from an annulus this many FWHM wide beyond it, and it
# needs at least this many stars.
TOTAL_RADIUS_FWHM = 10.0
SKY_WIDTH_FWHM = 3.0
MIN_GROWTH_STARS = 5


class NoMatchingRows(InputError):
    """A reference file holds no row for the product's filter and pupil (or encircled energy):
    the catalog goes on without that file's part, with a warning naming the file."""


@dataclass(frozen=True)
class ApertureParams:
    """The catalog's circular apertures, in mosaic pixels.

    ``ee`` are encircled-energy percentages (increasing), ``radii`` their radii, ``apcorr`` the
    aperture correction of each (total flux / background-subtracted aperture flux), ``skyin`` and
    ``skyout`` the local-background annulus; ``origin`` says where they came from.
    """

    ee: tuple
    radii: tuple
    apcorr: tuple
    skyin: float
    skyout: float
    origin: str

    def to_meta(self):
        """The parameters as plain numbers, for the catalog's metadata."""
        return {
            "aperture_ee": list(map(int, self.ee)),
            "aperture_radii_pix": [float(r) for r in self.radii],
            "aperture_corrections": [float(c) for c in self.apcorr],
            "bkg_aperture_inner_radius_pix": float(self.skyin),
            "bkg_aperture_outer_radius_pix": float(self.skyout),
            "aperture_origin": self.origin,
        }


def _matching_rows(table, path, filter_name, pupil):
    """The rows of ``filter_name`` (and ``pupil``, when the table has the column and it is set).
    MIRI's files hold one set of rows per subarray instead of a pupil column: the FULL ones are
    taken (the imager's PSF, hence its apertures, is the same on every subarray)."""
    rows = table[(np.char.strip(table["filter"].astype(str)) == filter_name)]
    if "pupil" in table.colnames and pupil:
        rows = rows[np.char.strip(rows["pupil"].astype(str)) == pupil]
    if "subarray" in table.colnames and len(np.unique(rows["subarray"])) > 1:
        rows = rows[np.char.strip(rows["subarray"].astype(str)) == "FULL"]
    if len(rows) == 0:
        raise NoMatchingRows(f"{path}: no row for filter {filter_name}, pupil {pupil}")
    return rows


def read_apcorr(path, filter_name, pupil, ee, pixel_scale_ratio) -> ApertureParams:
    """Apertures from an APCORR reference file for the mosaic's filter and pupil.

    ``pixel_scale_ratio`` is the mosaic's pixel scale over the native one (the file's radii are in
    native pixels).
    """
    try:
        table = Table.read(path, hdu="APCORR", format="fits")
    except (OSError, KeyError, ValueError, TypeError) as err:
        raise InputError(f"source_catalog.apcorr {path}: not an APCORR reference file ({err})") from None
    rows = _matching_rows(table, path, filter_name, pupil)
    percent = np.round(np.asarray(rows["eefraction"], float) * 100).astype(int)
    radii, apcorr, sky = [], [], set()
    for e in ee:
        match = rows[percent == e]
        if len(match) == 0:
            raise NoMatchingRows(f"{path}: no row for eefraction {e / 100} ({filter_name}, {pupil})")
        if len(match) != 1:
            raise InputError(f"{path}: {len(match)} rows for eefraction {e / 100} ({filter_name}, {pupil})")
        radii.append(float(match["radius"][0]) / pixel_scale_ratio)
        apcorr.append(float(match["apcorr"][0]))
        sky.add((float(match["skyin"][0]), float(match["skyout"][0])))
    if len(sky) != 1:
        raise InputError(f"{path}: more than one skyin/skyout for {filter_name}, {pupil}")
    skyin, skyout = sky.pop()
    return ApertureParams(
        tuple(ee),
        tuple(radii),
        tuple(apcorr),
        skyin / pixel_scale_ratio,
        skyout / pixel_scale_ratio,
        f"APCORR {path}",
    )


def read_abvega_offset(path, filter_name, pupil) -> float:
    """m_AB - m_Vega for the filter and pupil from an ABVEGAOFFSET reference file."""
    try:
        with asdf.open(path, lazy_load=False, memmap=False) as af:
            table = af["abvega_offset"]
            rows = _matching_rows(table, path, filter_name, pupil)
    except (OSError, ValueError, KeyError) as err:
        raise InputError(
            f"source_catalog.abvegaoffset {path}: not an ABVEGAOFFSET reference file ({err})"
        ) from None
    if len(rows) != 1:
        raise InputError(f"{path}: {len(rows)} rows for filter {filter_name}, pupil {pupil}")
    return float(rows["abvega_offset"][0])


def _fallback_apertures(ee) -> ApertureParams:
    """The official fallback: radii of 1, 2, 3 pixels and no aperture correction."""
    return ApertureParams(
        tuple(ee), FALLBACK_RADII, (1.0, 1.0, 1.0), *FALLBACK_SKY, "fallback (no correction)"
    )


def _growth_radii(fwhm: float, step: float = 0.25):
    """Radii (pixels) of the curve of growth, the total radius and the sky annulus for ``fwhm``."""
    total = TOTAL_RADIUS_FWHM * fwhm
    radii = np.arange(step, total + step / 2, step)
    return radii, total, (total, total + SKY_WIDTH_FWHM * fwhm)


def _curves_of_growth(data, mask, positions, radii, sky):
    """Background-subtracted flux within each radius (rows: stars), in the data's units.

    ``data`` is zero where there are no data (``mask``); ``positions`` are (x, y) 0-based pixels;
    ``sky`` the (inner, outer) radii of the annulus whose sigma-clipped median of the pixels with
    data (sources included), the catalog's local background, is taken off: the aperture
    corrections are then those of the catalog's fluxes, as an APCORR file's.
    """
    annulus = CircularAnnulus(positions, *sky)
    background = ApertureStats(data, annulus, mask=mask, sigma_clip=SigmaClip(sigma=3.0)).median
    apertures = [CircularAperture(positions, r) for r in radii]
    phot = aperture_photometry(data, apertures)
    sums = np.column_stack([np.asarray(phot[f"aperture_sum_{k}"]) for k in range(len(radii))])
    return sums - np.outer(background, np.pi * np.asarray(radii) ** 2)


def _growth_curve_apertures(data, mask, positions, fwhm, ee) -> ApertureParams:
    """Apertures from the median curve of growth of point sources at ``positions`` (x, y pixels).

    Each star's curve is normalised to its flux within ``TOTAL_RADIUS_FWHM`` x ``fwhm`` (pixels); the
    radius of each encircled energy is where the median curve crosses it, and the aperture
    correction the median of the stars' total / flux in that radius. The catalog then measures its
    local background in the same annulus the curves used.
    """
    radii, total, sky = _growth_radii(fwhm)
    curves = _curves_of_growth(data, mask, positions, radii, sky)
    curves = curves / curves[:, -1:]
    median = np.maximum.accumulate(np.median(curves, axis=0))
    ee_radii = [float(np.interp(e / 100.0, median, radii)) for e in ee]
    apcorr = [float(np.median([1.0 / np.interp(r, radii, c) for c in curves])) for r in ee_radii]
    origin = f"curve of growth of {len(positions)} stars to {total:.1f} pixels"
    return ApertureParams(tuple(ee), tuple(ee_radii), tuple(apcorr), *sky, origin)


def point_sources(segm_data, segm_cat, mask, psf_fwhm=None, min_snr=100.0):
    """Bright, isolated, point-like sources for a curve of growth: their indices and the FWHM that
    sets the curve's radii (pixels).

    Bright: isophotal S/N above ``min_snr``; point-like: circularised moment FWHM within 20 % of the
    bright sources' median and ellipticity below 0.2; isolated: no other segment within the total
    radius (``TOTAL_RADIUS_FWHM`` x FWHM) and data all the way to the sky annulus' outer radius.
    The FWHM is ``psf_fwhm`` when known (the filter's), else the point sources' moment FWHM (which
    a PSF's wings make about twice the core's).
    """
    flux, err = np.asarray(segm_cat.segment_flux), np.asarray(segm_cat.segment_flux_err)
    fwhm = np.asarray(segm_cat.fwhm.value)
    with np.errstate(invalid="ignore", divide="ignore"):
        bright = np.flatnonzero(flux / err > min_snr)
    if len(bright) == 0:
        return bright, np.nan
    ellipticity = np.asarray(segm_cat.ellipticity)
    typical = float(np.median(fwhm[bright]))
    point = bright[(np.abs(fwhm[bright] / typical - 1) < 0.2) & (ellipticity[bright] < 0.2)]
    if len(point) == 0:
        return point, typical
    typical = psf_fwhm or float(np.median(fwhm[point]))
    _, total, (_, outer) = _growth_radii(typical)
    x, y = np.asarray(segm_cat.x_centroid), np.asarray(segm_cat.y_centroid)
    labels = np.asarray(segm_cat.label)
    keep = [
        k
        for k in point
        if _clear(segm_data, x[k], y[k], total, own=labels[k]) and _clear(mask, x[k], y[k], outer)
    ]
    return np.asarray(keep, int), typical


def _clear(blocked, x, y, radius, *, own=None):
    """True when no nonzero ``blocked`` pixel lies within ``radius`` of (x, y) and the circle is
    inside the image; pixels equal to ``own`` (the source's own segment label) do not block."""
    ny, nx = blocked.shape
    r = int(np.ceil(radius))
    ix, iy = int(round(x)), int(round(y))
    if ix - r < 0 or iy - r < 0 or ix + r >= nx or iy + r >= ny:
        return False
    sl = (slice(iy - r, iy + r + 1), slice(ix - r, ix + r + 1))
    yy, xx = np.mgrid[sl]
    cut = blocked[sl]
    blocking = cut != 0 if own is None else (cut != 0) & (cut != own)
    return not np.any(blocking & (np.hypot(xx - x, yy - y) <= radius))


def apertures_from_mosaic(data, mask, segm_data, segm_cat, ee, psf_fwhm=None) -> ApertureParams:
    """Apertures from the mosaic's own point sources (:func:`_growth_curve_apertures`), or the
    official fallback, with a warning, when fewer than ``MIN_GROWTH_STARS`` qualify.

    ``data`` is background subtracted and zero where ``mask`` (no data); ``psf_fwhm`` (pixels) as
    for :func:`point_sources`.
    """
    stars, fwhm = point_sources(segm_data, segm_cat, mask, psf_fwhm)
    if len(stars) < MIN_GROWTH_STARS:
        log.warning(
            "only %d bright isolated point sources for a curve of growth (need %d): fallback "
            "apertures without aperture correction",
            len(stars),
            MIN_GROWTH_STARS,
        )
        return _fallback_apertures(ee)
    positions = np.column_stack(
        [np.asarray(segm_cat.x_centroid)[stars], np.asarray(segm_cat.y_centroid)[stars]]
    )
    return _growth_curve_apertures(data, mask, positions, fwhm, ee)
