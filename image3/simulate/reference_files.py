"""APCORR and ABVEGAOFFSET reference files for the simulated data, in the official formats.

The aperture corrections come from the simulator's own PSF as it appears in a mosaic drizzled at the
native pixel scale (the pixel-integrated Airy pattern resampled by drizzle's pixel overlaps), averaged
over sub-pixel positions, so they are the truth the catalog's aperture photometry should reproduce.
The sky annulus lies beyond the truncated PSF, so it holds no star light.
"""

import numpy as np
from astropy.table import Table
from photutils.aperture import CircularAperture, aperture_photometry
from stdatamodels.jwst import datamodels

from ..io.atomic import atomic_path
from .exposure import SYNTHETIC_PIXEL_SCALE
from .psf import PixelIntegratedPSF

__all__ = ["ABVEGA_OFFSETS", "drizzled_stamp", "write_abvegaoffset", "write_apcorr"]

EE_FRACTIONS = np.round(np.arange(0.1, 0.95, 0.1), 2)
SKY_GAP_PIX = 3.0
SKY_WIDTH_PIX = 5.0
# m_AB - m_Vega of NIRCam filters (approximate values from the JWST documentation); the
# simulator's stars are defined in AB magnitudes, so only the catalog's Vega columns use these.
ABVEGA_OFFSETS = {
    "F070W": 0.23,
    "F090W": 0.51,
    "F115W": 0.79,
    "F150W": 1.21,
    "F200W": 1.69,
    "F277W": 2.31,
    "F356W": 2.78,
    "F444W": 3.21,
}
REFERENCE_META = {
    "author": "image3 simulator",
    "pedigree": "DUMMY",
    "useafter": "2022-01-01T00:00:00",
}


def drizzled_stamp(stamp, ox, oy):
    """A detector stamp drizzled (square kernel, pixfrac 1) onto a grid of the same scale whose pixel
    centres sit at detector coordinates (i + ox, j + oy), 0 <= ox, oy < 1: each output pixel is the
    overlap-weighted (bilinear) mean of the four input pixels it covers. One pixel larger per axis."""
    p = np.pad(stamp, 1)
    return (
        (1 - ox) * (1 - oy) * p[:-1, :-1]
        + ox * (1 - oy) * p[:-1, 1:]
        + (1 - ox) * oy * p[1:, :-1]
        + ox * oy * p[1:, 1:]
    )


def _mosaic_encircled_energy(psf: PixelIntegratedPSF, radii, n_phases=4):
    """Fraction of a star's flux within each radius (pixels) of its centre in a mosaic at the native
    pixel scale, averaged over ``n_phases`` star positions within the detector pixel and as many
    offsets of the output grid, per axis."""
    phases = (np.arange(n_phases) + 0.5) / n_phases
    ee = np.zeros(len(radii))
    for dy, dx in np.ndindex(n_phases, n_phases):
        stamp = psf.stamp(phases[dx] - 0.5, phases[dy] - 0.5)
        c = stamp.shape[0] // 2 + 1
        for oy, ox in np.ndindex(n_phases, n_phases):
            out = drizzled_stamp(stamp, phases[ox], phases[oy])
            centre = (c + phases[dx] - 0.5 - phases[ox], c + phases[dy] - 0.5 - phases[oy])
            phot = aperture_photometry(out, [CircularAperture(centre, r) for r in radii])
            ee += [phot[f"aperture_sum_{k}"][0] for k in range(len(radii))]
    return ee / n_phases**4


def _apcorr_rows(filter_name, pupil="CLEAR", *, pixel_scale=SYNTHETIC_PIXEL_SCALE):
    """APCORR table rows of a filter: radius (native pixels of ``pixel_scale`` arcsec) per
    encircled-energy fraction, aperture correction 1 / eefraction, and a sky annulus beyond the PSF."""
    psf = PixelIntegratedPSF(filter_name, pixel_scale)
    radii = np.arange(0.1, 4.0 * psf.lambda_d + 2.0, 0.05)
    ee = np.maximum.accumulate(_mosaic_encircled_energy(psf, radii))
    skyin = psf.radius + SKY_GAP_PIX
    return [
        (filter_name, pupil, f, float(np.interp(f, ee, radii)), 1.0 / f, skyin, skyin + SKY_WIDTH_PIX)
        for f in EE_FRACTIONS
    ]


def write_apcorr(path, filters, pupil="CLEAR", *, pixel_scale=SYNTHETIC_PIXEL_SCALE):
    """An NIRCam imaging APCORR reference file (FITS, HDU APCORR) for ``filters`` on detectors of
    ``pixel_scale`` arcsec (the NIRCam format, also for the demo's other modes)."""
    rows = [row for f in filters for row in _apcorr_rows(f.upper(), pupil, pixel_scale=pixel_scale)]
    dtype = [
        ("filter", "S12"),
        ("pupil", "S15"),
        ("eefraction", "f4"),
        ("radius", "f4"),
        ("apcorr", "f4"),
        ("skyin", "f4"),
        ("skyout", "f4"),
    ]
    model = datamodels.NrcImgApcorrModel()
    model.apcorr_table = np.array(rows, dtype=dtype)
    _reference_meta(model, "APCORR", "Aperture corrections of the simulated NIRCam PSF")
    with atomic_path(path) as tmp:
        model.save(tmp)


def write_abvegaoffset(path, filters, pupil="CLEAR"):
    """An ABVEGAOFFSET reference file (ASDF) with the offsets of ``filters``."""
    names = [f.upper() for f in filters]
    model = datamodels.ABVegaOffsetModel()
    model.abvega_offset = Table(
        {
            "filter": names,
            "pupil": [pupil] * len(names),
            "abvega_offset": [ABVEGA_OFFSETS.get(f, 0.0) for f in names],
        }
    )
    _reference_meta(model, "ABVEGAOFFSET", "AB to Vega magnitude offsets (approximate NIRCam values)")
    with atomic_path(path) as tmp:
        model.save(tmp)


def _reference_meta(model, reftype, description):
    meta = model.meta
    meta.reftype = reftype
    meta.description = description
    meta.instrument.name = "NIRCAM"
    meta.instrument.detector = "NRCA1"
    for key, value in REFERENCE_META.items():
        setattr(meta, key, value)
