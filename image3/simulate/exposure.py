"""Render one level-2b exposure from the scene, its true pointing and detector model: on the
synthetic NIRCam-like detector, or on a real detector's SIAF geometry (``instruments``)."""

from dataclasses import dataclass

import numpy as np
from astropy.table import vstack
from stdatamodels.jwst import datamodels

from ..io.dq import DQ_FLAGS
from ..io.level2b import set_fits_wcs
from ..wcs._interp import coarse_grid_evaluate
from ..wcs.jwst_wcs import Distortion, imaging_wcs, s_region
from .artefacts import (
    MAX_WING_ARCSEC,
    ArtefactSettings,
    amplifier_index,
    one_over_f,
    psf_wings,
    saturation,
    sky_structure,
    wing_fraction,
)
from .detector import DEAD, DO_NOT_USE, HOT, SATURATED, add_noise, bad_pixel_mask, cosmic_rays
from .observation import ExposurePointing
from .psf import PixelIntegratedPSF
from .scene import galaxy_stamp, point_source

__all__ = [
    "ARCSEC2_TO_SR",
    "NON_SCIENCE",
    "REFERENCE_PIXEL",
    "SYNTHETIC_FRAME_TIME",
    "SYNTHETIC_PIXEL_SCALE",
    "WIDE_GALAXY_ARCSEC",
    "DetectorModel",
    "relative_pixel_area",
    "render_sources",
    "simulate_exposure",
]

ARCSEC2_TO_SR = (np.pi / 180.0 / 3600.0) ** 2
SYNTHETIC_PIXEL_SCALE = Distortion().pixel_scale  # arcsec, the synthetic detector's
WIDE_GALAXY_ARCSEC = 1.0  # effective radius beyond which a galaxy is rendered at one sample per pixel
SYNTHETIC_FRAME_TIME = 10.73676  # s, the synthetic detector reads as NIRCam's full frame
NON_SCIENCE = DQ_FLAGS["NON_SCIENCE"]
REFERENCE_PIXEL = DQ_FLAGS["REFERENCE_PIXEL"]
# MIRI's coronagraph, Lyot and LRS pixels see more thermal background than the imager: their
# excess over the sky, as a fraction of it (the coronagraphs' own boxes get it twice).
NON_SCIENCE_EXCESS = 0.5


@dataclass(frozen=True)
class DetectorModel:
    """Detector and exposure settings (see config.yaml ``simulate``)."""

    shape: tuple
    filter: str
    exptime: float
    gain: float  # electrons per MJy/sr over the exposure
    read_noise_e: float
    flat_error: float
    cosmic_ray_rate: float
    bad_pixel_fraction: float
    seed: int
    cosmic_ray_mix: tuple = ()  # (morphology, relative rate) pairs; () is detector.DEFAULT_MIX
    cosmic_ray_energy_e: tuple = (30.0, 50_000.0)  # brightest pixel, log-uniform, electrons
    instrument: str = "nircam_sw"  # simulate.instrument
    artefacts: ArtefactSettings = ArtefactSettings()  # simulate.artefacts and their parameters


def relative_pixel_area(wcs, shape, step=16, *, pixel_scale=SYNTHETIC_PIXEL_SCALE):
    """Pixel area on the sky relative to the nominal ``pixel_scale**2`` (arcsec; the AREA array).

    The area is the Jacobian determinant of detector -> ideal, evaluated on a coarse grid (it is a
    low-order polynomial) and interpolated.
    """
    to_v2v3 = wcs.get_transform("detector", "v2v3")

    def area(x, y):
        h = 0.5
        x1, y1 = to_v2v3(x + h, y)
        x0, y0 = to_v2v3(x - h, y)
        x3, y3 = to_v2v3(x, y + h)
        x2, y2 = to_v2v3(x, y - h)
        return np.abs((x1 - x0) * (y3 - y2) - (x3 - x2) * (y1 - y0)) / pixel_scale**2

    return coarse_grid_evaluate(lambda x, y: (area(x, y),), shape, step)[0]


def _jacobian(wcs, x, y):
    """d(east, north) / d(x, y) in arcsec per pixel at a detector position."""
    ra0, dec0 = wcs(x, y, with_bounding_box=False)
    cols = []
    for dx, dy in ((0.5, 0.0), (0.0, 0.5)):
        rp, dp = wcs(x + dx, y + dy, with_bounding_box=False)
        rm, dm = wcs(x - dx, y - dy, with_bounding_box=False)
        cols.append([(rp - rm) * np.cos(np.deg2rad(dec0)) * 3600.0, (dp - dm) * 3600.0])
    return np.array(cols).T


def _add_stamp(image, stamp, ix, iy):
    """Add a square stamp centred on pixel (ix, iy), clipped to the image."""
    r = stamp.shape[0] // 2
    ny, nx = image.shape
    y0, y1, x0, x1 = iy - r, iy + r + 1, ix - r, ix + r + 1
    sy0, sx0 = max(0, -y0), max(0, -x0)
    sy1 = stamp.shape[0] - max(0, y1 - ny)
    sx1 = stamp.shape[1] - max(0, x1 - nx)
    if sy1 <= sy0 or sx1 <= sx0:
        return
    image[max(y0, 0) : min(y1, ny), max(x0, 0) : min(x1, nx)] += stamp[sy0:sy1, sx0:sx1]


def render_sources(scene, wcs, shape, psf: PixelIntegratedPSF, pixel_scale, wings=None):
    """Image of the scene in Jy per pixel through the true ``wcs`` (stars and galaxies).

    ``wings``: None, or a dict of :func:`artefacts.psf_wings`' keyword arguments but the star's
    (``filter_name``, ``pixel_scale``, ``fraction``, ``noise_jy_arcsec2``): stars bright enough
    get diffraction spikes and a halo, taken from their core. Returns ``(image, wing_image)``
    with ``wings``, else the image alone.
    """
    image = np.zeros(shape)
    wing_image = np.zeros(shape) if wings is not None else None
    x, y = wcs.invert(np.asarray(scene["ra"]), np.asarray(scene["dec"]), with_bounding_box=False)
    ny, nx = shape
    margin = psf.radius + 60
    if wings is not None:
        margin = max(margin, int(np.ceil(MAX_WING_ARCSEC / pixel_scale)))
        to_v2v3 = wcs.get_transform("detector", "v2v3")
        core_share = 1.0 - wing_fraction(wings["fraction"])
    inside = (x > -margin) & (x < nx + margin) & (y > -margin) & (y < ny + margin)
    for row, xs, ys in zip(scene[inside], x[inside], y[inside], strict=True):
        ix, iy = int(np.round(xs)), int(np.round(ys))
        flux = row["flux_jy"]
        if row["type"] == "star":
            stamp = psf.stamp(xs - ix, ys - iy)
            drawn = None if wings is None else psf_wings(flux, xs, ys, to_v2v3, shape, **wings)
            if drawn is not None:
                index, wing = drawn
                wing_image[index] += wing
                flux = flux * core_share
        else:
            # a galaxy much wider than the PSF (the large galaxy) needs no sub-pixel sampling
            oversample = 1 if row["r_eff"] > WIDE_GALAXY_ARCSEC else 3
            stamp = galaxy_stamp(
                row, _jacobian(wcs, xs, ys), psf.kernel(oversample), oversample, pixel_scale, xs - ix, ys - iy
            )
        _add_stamp(image, flux * stamp, ix, iy)
    if wings is None:
        return image
    return image + wing_image, wing_image


def simulate_exposure(scene, truth: dict, index, det: DetectorModel, geometry=None):
    """One exposure as an ImageModel (nominal WCS, true scene), its cosmic-ray truth table and its
    artefacts' truth (``det.artefacts``; see :mod:`.artefacts`): a dict of ``saturated`` (pixels
    with no slope), and where enabled ``wings`` (the stars' spikes and halo, MJy/sr),
    ``one_over_f`` (row offsets per amplifier, MJy/sr, shape (ny, 4)), ``gradient`` and ``wisp``
    (MJy/sr images).

    ``truth`` is the exposure's entry of the plan (``dataset.plan``): pointings, sky level, start
    time and the moving target, if any, which is rendered as a point source with the filter's PSF
    (its motion during the exposure, like the telescope's tracking of it, is not rendered: static
    sources and target are both unsmeared). ``geometry`` (an ``instruments.DetectorGeometry``) puts
    it on a real detector (SIAF distortion, reference pixels, MIRI's non-imaging region); None: the
    synthetic detector of ``det.shape``.
    """
    pointing = ExposurePointing.from_dict(truth)
    target = truth["target"]
    if target is not None:
        scene = vstack([scene, point_source(target["ra"], target["dec"], target["flux_jy"])])
    rng = np.random.default_rng([det.seed, index + 1])
    distortion = Distortion() if geometry is None else geometry.distortion
    shape = tuple(det.shape) if geometry is None else tuple(geometry.shape)
    scale = distortion.pixel_scale
    true_wcs = imaging_wcs(shape, pointing.true, distortion)
    nominal_wcs = imaging_wcs(shape, pointing.nominal, distortion)

    psf = PixelIntegratedPSF(det.filter, scale)
    art = det.artefacts
    omega_nominal = scale**2 * ARCSEC2_TO_SR
    sky_noise = np.sqrt(truth["sky_level"] / det.gain + (det.read_noise_e / det.gain) ** 2)  # MJy/sr
    wings = None
    if "diffraction_spikes" in art:
        wings = {
            "filter_name": det.filter,
            "pixel_scale": scale,
            "fraction": art.spike_fraction,
            "noise_jy_arcsec2": sky_noise * 1e6 * ARCSEC2_TO_SR,
        }
    rendered = render_sources(scene, true_wcs, shape, psf, scale, wings)
    flux, wing_flux = rendered if wings is not None else (rendered, None)
    area = relative_pixel_area(true_wcs, shape, pixel_scale=scale)
    to_surface = 1e-6 / (omega_nominal * area)  # Jy per pixel -> MJy/sr
    signal = flux * to_surface + truth["sky_level"]
    regions = _detector_regions(geometry, shape)
    signal[regions["non_science"]] += truth["sky_level"] * NON_SCIENCE_EXCESS
    signal[regions["coronagraph"]] += truth["sky_level"] * NON_SCIENCE_EXCESS
    structure = _sky_structure(art, shape, truth["sky_level"], det, geometry)
    for image in structure.values():
        signal += image

    data, var_p, var_r, var_f = add_noise(rng, signal, det.gain, det.read_noise_e, det.flat_error)
    artefact_rng = np.random.default_rng([det.seed, index + 1, 28])
    lost = np.zeros(shape, bool)
    if "saturated_stars" in art:
        frame_time = SYNTHETIC_FRAME_TIME if geometry is None else _frame_time(det.instrument)
        lost, good_time = saturation(signal, det.gain, det.exptime, frame_time, art.full_well_e)
        # a pixel that saturated part-way has the Poisson noise of its unsaturated groups alone
        extra = var_p * (det.exptime / good_time - 1.0)
        short = (extra > 0) & ~lost
        data[short] += artefact_rng.normal(0.0, np.sqrt(extra[short]))
        var_p = var_p + np.where(lost, 0.0, extra)
    stripes = None
    if "one_over_f" in art:
        amplifiers = _amplifiers(shape, det.instrument, geometry)
        image, stripes = one_over_f(artefact_rng, shape, art.one_over_f_rms * sky_noise, amplifiers)
        data += image
    err = np.sqrt(var_p + var_r + var_f)
    cr_image, cr_dq, cr_table = cosmic_rays(
        rng,
        shape,
        det.cosmic_ray_rate,
        det.gain,
        err,
        dict(det.cosmic_ray_mix) or None,
        det.cosmic_ray_energy_e,
    )
    data += cr_image

    seed = det.seed if geometry is None else [det.seed, *map(ord, geometry.detector)]
    hot, dead = bad_pixel_mask(seed, shape, det.bad_pixel_fraction)
    dq = cr_dq
    dq[hot] |= DO_NOT_USE | HOT
    dq[dead] |= DO_NOT_USE | DEAD
    data[hot] += rng.uniform(5.0, 50.0, hot.sum())
    data[dead] = 0.0
    dq[regions["non_science"]] |= NON_SCIENCE
    dq[regions["reference"]] |= DO_NOT_USE | REFERENCE_PIXEL
    data[regions["reference"]] = 0.0
    # no slope where the first group saturated: NaN in SCI, ERR and the variances
    dq[lost] |= SATURATED | DO_NOT_USE
    for array in (data, err, var_p, var_r, var_f):
        array[lost] = np.nan

    model = datamodels.ImageModel(data=data.astype(np.float32))
    model.err = err.astype(np.float32)
    model.dq = dq
    model.var_poisson = var_p.astype(np.float32)
    model.var_rnoise = var_r.astype(np.float32)
    model.var_flat = var_f.astype(np.float32)
    model.area = area.astype(np.float32)
    _set_metadata(
        model,
        pointing,
        truth.get("exposure_number", index + 1),
        truth.get("visit", 1),
        det,
        omega_nominal,
        scale,
        truth["start_time"],
    )
    if geometry is not None:
        _set_detector_metadata(model.meta, geometry, det.instrument)
    if target is not None:
        model.meta.target.type = "MOVING"
        model.meta.wcsinfo.mt_ra, model.meta.wcsinfo.mt_dec = target["ra"], target["dec"]
    model.meta.wcs = nominal_wcs
    model.meta.wcsinfo.s_region = s_region(nominal_wcs, shape)
    set_fits_wcs(model, nominal_wcs, shape)
    artefacts = {"saturated": lost}
    if wing_flux is not None:
        artefacts["wings"] = wing_flux * to_surface
    if stripes is not None:
        artefacts["one_over_f"] = stripes
    artefacts.update(structure)
    return model, cr_table, artefacts


def _sky_structure(art: ArtefactSettings, shape, sky, det, geometry):
    """The enabled ``gradient`` and ``wisp`` images (MJy/sr) of a detector, fixed on it (the same
    in every exposure: seeded by the detector)."""
    detector = "synthetic" if geometry is None else geometry.detector
    gradient, wisp = sky_structure(
        shape, sky, gradient=art.gradient, wisp=art.wisp, seed=[det.seed, *map(ord, detector)]
    )
    return {k: v for k, v in (("gradient", gradient), ("wisp", wisp)) if k in art}


def _frame_time(key):
    """The frame time (s) of a real detector's mode."""
    from .instruments import instrument

    return instrument(key).frame_time


def _amplifiers(shape, key, geometry):
    """Each column's readout amplifier (``artefacts.amplifier_index``)."""
    if geometry is None:
        return amplifier_index(shape, instrument="synthetic")
    return amplifier_index(shape, instrument=key, xstart=geometry.start[0])


def _detector_regions(geometry, shape):
    """Boolean maps of a real detector's reference pixels, MIRI's non-imaging region (NON_SCIENCE)
    and its coronagraphs (both brighter than the sky); all False on the synthetic detector."""
    if geometry is None:
        empty = np.zeros(shape, bool)
        return {"reference": empty, "non_science": empty, "coronagraph": empty}
    from .instruments import non_science_regions, reference_pixels

    non_science, coronagraph = non_science_regions(geometry)
    return {"reference": reference_pixels(geometry), "non_science": non_science, "coronagraph": coronagraph}


def _set_detector_metadata(meta, geometry, key):
    """What differs on a real detector: instrument, detector, channel, module, pupil, exposure type,
    the kept pixels (``meta.subarray``), the aperture and the SIAF reference pixel."""
    from .instruments import instrument

    mode = instrument(key)
    meta.instrument.name = mode.name
    meta.instrument.detector = geometry.detector
    meta.instrument.channel = mode.channel
    meta.instrument.pupil = mode.pupil
    meta.instrument.module = geometry.detector[3] if mode.name == "NIRCAM" else None
    meta.exposure.type = mode.exp_type
    meta.aperture.name = geometry.aperture
    meta.subarray.name = "FULL" if geometry.is_full_frame else "GENERIC"
    meta.subarray.xstart, meta.subarray.ystart = geometry.start
    meta.subarray.xsize, meta.subarray.ysize = geometry.shape[1], geometry.shape[0]
    _set_readout(meta, mode.readpatt, mode.frame_time)
    d = geometry.distortion
    meta.wcsinfo.siaf_xref_sci = d.x_sci_ref - d.origin[0]
    meta.wcsinfo.siaf_yref_sci = d.y_sci_ref - d.origin[1]


def _set_readout(meta, readpatt, frame_time):
    """The readout keywords of one integration of single-frame groups (``frame_time`` in s) that
    spans ``meta.exposure.exposure_time``: as many groups as fit, at least two."""
    exposure = meta.exposure
    exposure.readpatt = readpatt
    exposure.nints, exposure.nframes, exposure.groupgap = 1, 1, 0
    exposure.ngroups = max(2, round(exposure.exposure_time / frame_time) + 1)
    exposure.frame_time = exposure.group_time = frame_time


def _set_metadata(model, pointing, number, visit, det, omega_nominal, pixel_scale, start):
    """The level-2b metadata the pipeline steps and astronomers' tools read (``number``: the
    exposure number within its ``visit``, both 1-based; ``start``: MJD)."""
    meta = model.meta
    meta.filename = f"{pointing.name}_cal.fits"
    meta.model_type = "ImageModel"
    meta.telescope = "JWST"
    meta.instrument.name = "NIRCAM"
    meta.instrument.detector = "NRCA1"
    meta.instrument.module = "A"
    meta.instrument.channel = "SHORT"
    meta.instrument.filter = det.filter.upper()
    meta.instrument.pupil = "CLEAR"
    meta.exposure.type = "NRC_IMAGE"
    meta.exposure.start_time = start
    meta.exposure.mid_time = start + det.exptime / 2 / 86400.0
    meta.exposure.end_time = start + det.exptime / 86400.0
    meta.exposure.exposure_time = det.exptime
    meta.exposure.effective_exposure_time = det.exptime
    meta.exposure.measurement_time = det.exptime
    meta.exposure.duration = det.exptime
    _set_readout(meta, "RAPID", SYNTHETIC_FRAME_TIME)
    meta.observation.program_number = "01234"
    meta.observation.observation_number = "001"
    meta.observation.visit_number = f"{visit:03d}"
    meta.observation.visit_group = "03"
    meta.observation.sequence_id = "1"
    meta.observation.activity_id = "01"
    meta.observation.exposure_number = f"{number:05d}"
    meta.observation.date = "2026-11-24"
    meta.observation.time = "00:00:00"
    meta.target.type = "FIXED"
    meta.target.ra = pointing.nominal.ra_ref
    meta.target.dec = pointing.nominal.dec_ref
    meta.subarray.name = "FULL"
    meta.subarray.xstart, meta.subarray.ystart = 1, 1
    meta.subarray.ysize, meta.subarray.xsize = model.data.shape
    meta.bunit_data = "MJy/sr"
    meta.bunit_err = "MJy/sr"
    meta.photometry.conversion_megajanskys = det.exptime / det.gain
    meta.photometry.pixelarea_steradians = omega_nominal
    meta.photometry.pixelarea_arcsecsq = pixel_scale**2
    meta.velocity_aberration.scale_factor = pointing.nominal.va_scale
    for step in ("assign_wcs", "flat_field", "photom", "resample"):
        setattr(meta.cal_step, step, "COMPLETE" if step != "resample" else "SKIPPED")
    info = meta.wcsinfo
    p = pointing.nominal
    info.v2_ref, info.v3_ref, info.vparity, info.v3yangle = (
        p.v2_ref,
        p.v3_ref,
        p.vparity,
        p.v3yangle,
    )
    info.ra_ref, info.dec_ref, info.roll_ref = p.ra_ref, p.dec_ref, p.roll_ref
    info.siaf_xref_sci = (model.data.shape[1] + 1) / 2.0
    info.siaf_yref_sci = (model.data.shape[0] + 1) / 2.0
