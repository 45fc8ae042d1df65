"""Small simulated datasets and truth-based measurements shared by the tests.

Everything here runs in memory through the library (no Snakemake), so the science tests are fast;
tests/test_workflow.py runs the real workflow.
"""

from pathlib import Path

import numpy as np
import yaml
from astropy.coordinates import SkyCoord
from astropy.modeling import fitting, models
from photutils.aperture import CircularAnnulus, CircularAperture, aperture_photometry

from image3.resample.drizzle import Exposure, Mosaic
from image3.resample.grid import make_grid
from image3.resample.settings import DrizzleSettings
from image3.simulate.dataset import detector_model, entry_geometry, plan
from image3.simulate.exposure import relative_pixel_area, render_sources, simulate_exposure
from image3.simulate.psf import PixelIntegratedPSF
from image3.wcs.tangent_plane import native_pixel_scale

REPO = Path(__file__).resolve().parents[1]
ARCSEC2_TO_SR = (np.pi / 180 / 3600) ** 2


def settings(**overrides):
    """The default ``simulate`` config section with ``overrides``."""
    base = yaml.safe_load((REPO / "config.yaml").read_text())["simulate"]
    return {**base, **overrides}


def simulate(sim):
    """(scene, per-file truth dicts, ImageModels, cosmic-ray tables) for ``sim`` settings."""
    scene, truth, models, crs, _ = simulate_with_artefacts(sim)
    return scene, truth, models, crs


def simulate_with_artefacts(sim):
    """(scene, per-file truth dicts, ImageModels, cosmic-ray tables, artefacts' truth dicts)."""
    scene, truth = plan(sim)
    det = detector_model(sim)
    models, crs, artefacts = [], [], []
    for k, entry in enumerate(truth):
        model, cr, art = simulate_exposure(scene, entry, k, det, entry_geometry(entry))
        models.append(model)
        crs.append(cr)
        artefacts.append(art)
    return scene, truth, models, crs, artefacts


def noiseless_exposure(sim, scene, entry):
    """An exposure's expected signal less its sky (MJy/sr, as its SCI): the scene through its true
    WCS, with no noise, cosmic rays or bad pixels; what a perfect median blotted onto it would be.
    The synthetic detector only (``sim`` without ``detectors``), no moving target."""
    from image3.simulate.observation import ExposurePointing
    from image3.wcs.jwst_wcs import Distortion, imaging_wcs

    assert entry_geometry(entry) is None and entry["target"] is None
    det = detector_model(sim)
    distortion = Distortion()
    shape = tuple(det.shape)
    wcs = imaging_wcs(shape, ExposurePointing.from_dict(entry).true, distortion)
    scale = distortion.pixel_scale
    flux = render_sources(scene, wcs, shape, PixelIntegratedPSF(det.filter, scale), scale)
    area = relative_pixel_area(wcs, shape, pixel_scale=scale)
    return flux * 1e-6 / (scale**2 * ARCSEC2_TO_SR * area)


def drizzle(models, grid=None, **drizzle_settings):
    """Mosaic arrays and grid for ``models`` drizzled with ``drizzle_settings``."""
    if grid is None:
        grid = make_grid([(m.meta.wcs, m.data.shape) for m in models])
    mosaic = Mosaic(grid, DrizzleSettings(**drizzle_settings), len(models))
    for m in models:
        mosaic.add(Exposure.from_model(m), native_pixel_scale(m.meta.wcs, m.data.shape))
    return mosaic.arrays(), grid


def isolated_stars(scene, grid, radius_pix, mag_range, exclude_pix=None):
    """Stars in ``mag_range`` inside the mosaic whose surroundings hold no other bright source.

    A star is isolated when no other source within ``radius_pix`` + 8 output pixels is brighter than
    the star's magnitude + 6 (0.4 % of its flux), and no galaxy brighter than that lies within
    ``radius_pix`` + 8 + 6 effective radii. Returns the scene rows and their mosaic x, y (0-based).
    """
    x, y = grid.wcs.invert(np.asarray(scene["ra"]), np.asarray(scene["dec"]), with_bounding_box=False)
    coords = SkyCoord(scene["ra"], scene["dec"], unit="deg")
    scale = grid.pixel_scale
    keep = []
    ny, nx = grid.shape
    margin = radius_pix + 12
    for i, row in enumerate(scene):
        if row["type"] != "star" or not (mag_range[0] <= row["mag_ab"] < mag_range[1]):
            continue
        if not (margin < x[i] < nx - margin and margin < y[i] < ny - margin):
            continue
        sep = coords[i].separation(coords).arcsec / scale
        reach = radius_pix + 8 + 6 * np.asarray(scene["r_eff"]) / scale
        bright = np.asarray(scene["mag_ab"]) < row["mag_ab"] + 6
        others = np.arange(len(scene)) != i
        if np.any(others & bright & (sep < reach)):
            continue
        keep.append(i)
    return scene[keep], x[keep], y[keep]


def aperture_flux(image, x, y, radius, annulus=(4, 12)):
    """Background-subtracted aperture sums (image units x pixels) at 0-based (x, y).

    The background is the median in an annulus from radius + annulus[0] to radius + annulus[1];
    ``annulus=None`` subtracts nothing (the image is already background-free).
    """
    pos = np.column_stack([x, y])
    aper = CircularAperture(pos, radius)
    mask = ~np.isfinite(image)
    phot = aperture_photometry(np.where(mask, 0.0, image), aper)
    if annulus is None:
        return np.asarray(phot["aperture_sum"])
    ann = CircularAnnulus(pos, radius + annulus[0], radius + annulus[1])
    bkg = np.array([np.nanmedian(m.multiply(image)[m.data > 0]) for m in ann.to_mask(method="center")])
    return np.asarray(phot["aperture_sum"]) - bkg * aper.area


def truth_flux_in_mosaic(scene_rows, grid):
    """True flux of sources in mosaic units: MJy/sr summed over output pixels."""
    omega = (grid.pixel_scale**2) * ARCSEC2_TO_SR
    return np.asarray(scene_rows["flux_jy"]) * 1e-6 / omega


def windowed_centroids(image, x, y, sigma=1.5, half=10, iterations=20):
    """Positions (0-based) from SExtractor-style windowed centroids, started at the brightest pixel.

    The Gaussian window (``sigma`` pixels) is re-centred on each estimate, so it converges to the
    centre of a symmetric profile without knowing the true position; the local background (median of
    the stamp's edge) is subtracted first.
    """
    out = []
    for xi, yi in zip(x, y, strict=True):
        ix, iy = int(round(xi)), int(round(yi))
        yy, xx = np.mgrid[iy - half : iy + half + 1, ix - half : ix + half + 1]
        cut = image[iy - half : iy + half + 1, ix - half : ix + half + 1]
        edge = np.hypot(xx - ix, yy - iy) > half - 3
        cut = np.nan_to_num(cut - np.nanmedian(cut[edge]))
        py, px = np.unravel_index(
            np.argmax(np.where(np.hypot(xx - ix, yy - iy) < 3, cut, -np.inf)), cut.shape
        )
        cx, cy = float(xx[py, px]), float(yy[py, px])
        for _ in range(iterations):
            w = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * sigma**2)) * cut
            dx = 2 * (w * (xx - cx)).sum() / w.sum()
            dy = 2 * (w * (yy - cy)).sum() / w.sum()
            cx, cy = cx + dx, cy + dy
        out.append((cx, cy))
    return np.array(out)


def gaussian_fwhm(image, x, y, half=8):
    """FWHM (pixels, geometric mean of the two axes) of an elliptical Gaussian plus constant fitted
    to the (2 half + 1)^2 stamp around 0-based (x, y)."""
    ix, iy = int(round(x)), int(round(y))
    cut = np.nan_to_num(image[iy - half : iy + half + 1, ix - half : ix + half + 1])
    yy, xx = np.mgrid[-half : half + 1, -half : half + 1]
    model = models.Gaussian2D(cut.max(), x - ix, y - iy, 1.0, 1.0) + models.Const2D(0.0)
    fit = fitting.LevMarLSQFitter()(model, xx, yy, cut)
    return float(2 * np.sqrt(2 * np.log(2)) * np.sqrt(abs(fit.x_stddev_0 * fit.y_stddev_0)))


def psf_radius(filter_name):
    """Radius in pixels beyond which the simulated PSF is zero."""
    return PixelIntegratedPSF(filter_name, 0.0311).radius


def true_wcs(entry, shape):
    """The true gwcs of an exposure from its truth entry (synthetic or real detector)."""
    from image3.simulate.dataset import truth_wcs

    return truth_wcs(entry, "true", shape)


def wcs_errors_mas(wcs_list, truth, shape, step=64):
    """Sky offsets (mas, east and north) of each WCS from the truth over a grid of chip pixels.

    For every exposure and grid pixel, the true sky position of the pixel and the position the WCS
    gives it. Returns (ra, dec of the true positions, offsets with shape (n_exposures, n_points, 2)).
    """
    y, x = np.mgrid[0 : shape[0] : step, 0 : shape[1] : step].astype(float)
    x, y = x.ravel(), y.ravel()
    points, offsets = [], []
    for wcs, entry in zip(wcs_list, truth, strict=True):
        ra_t, dec_t = true_wcs(entry, shape)(x, y)
        ra_w, dec_w = wcs(x, y)
        east = (ra_w - ra_t) * np.cos(np.deg2rad(dec_t)) * 3.6e6
        north = (dec_w - dec_t) * 3.6e6
        points.append((ra_t, dec_t))
        offsets.append(np.column_stack([east, north]))
    return points, np.array(offsets)


def exposure_catalogs(models, fwhm, detection):
    """tweakreg's per-exposure catalogs of ``models`` (``detection``: DetectionSettings; ``fwhm``
    the star finder's kernel, pixels), as the workflow hands them to the alignment."""
    from image3.io.exposure_groups import exposure_group
    from image3.tweakreg import alignment
    from image3.tweakreg.source_finding import find_sources

    out = []
    for m in models:
        info = m.meta.wcsinfo
        out.append(
            alignment.ExposureCatalog(
                m.meta.filename,
                exposure_group(m.meta, m.meta.filename),
                m.meta.wcs,
                {"v2_ref": info.v2_ref, "v3_ref": info.v3_ref, "roll_ref": info.roll_ref},
                find_sources(m.data, m.dq, fwhm, detection),
                m.data.shape,
            )
        )
    return out


def relative_alignment_rms(wcs_list, truth, shape):
    """RMS (mas) of the exposures' WCS errors about their common part.

    Relative alignment leaves all exposures off by the same small rigid motion (the reference's
    error); what matters is how far apart the exposures put the same sky. The common part is fitted
    as a rigid shift + rotation of the whole field (in the tangent plane at the field centre) to all
    offsets; the RMS is of what remains.
    """
    points, offsets = wcs_errors_mas(wcs_list, truth, shape)
    ra = np.concatenate([p[0] for p in points])
    dec = np.concatenate([p[1] for p in points])
    d = offsets.reshape(-1, 2)
    ra0, dec0 = np.mean(ra), np.mean(dec)
    xi = (ra - ra0) * np.cos(np.deg2rad(dec0)) * 3.6e6  # mas
    eta = (dec - dec0) * 3.6e6
    # d = (tx - w * eta, ty + w * xi): least squares for tx, ty, w
    a = np.zeros((2 * len(xi), 3))
    a[0::2, 0] = 1
    a[0::2, 2] = -eta
    a[1::2, 1] = 1
    a[1::2, 2] = xi
    sol, *_ = np.linalg.lstsq(a, d.ravel(), rcond=None)
    resid = d.ravel() - a @ sol
    return float(np.sqrt(np.mean(resid.reshape(-1, 2) ** 2) * 2))


def star_catalogs(sim, mag_limit, noise_pix, seed=0):
    """The plan's exposures as a source finder would see them, without rendering any image.

    For each exposure: its nominal gwcs, reference angles and a catalog (0-based pixel ``x``, ``y``)
    of the scene's stars brighter than ``mag_limit`` AB, placed through the true WCS with Gaussian
    centroid noise of ``noise_pix`` pixels per axis and kept when on the chip. Returns (per-exposure
    truth, list of (gwcs, wcsinfo dict, catalog Table)).
    """
    from astropy.table import Table

    from image3.simulate.observation import ExposurePointing
    from image3.wcs.jwst_wcs import imaging_wcs

    scene, truth = plan(sim)
    stars = scene[(scene["type"] == "star") & (scene["mag_ab"] < mag_limit)]
    ra, dec = np.asarray(stars["ra"]), np.asarray(stars["dec"])
    rng = np.random.default_rng(seed)
    shape = tuple(sim["shape"])
    exposures = []
    for entry in truth:
        pointing = ExposurePointing.from_dict(entry)
        x, y = imaging_wcs(shape, pointing.true).invert(ra, dec, with_bounding_box=False)
        x, y = x + rng.normal(0, noise_pix, len(x)), y + rng.normal(0, noise_pix, len(y))
        on = (x > 1) & (x < shape[1] - 2) & (y > 1) & (y < shape[0] - 2)
        n = pointing.nominal
        exposures.append(
            (
                imaging_wcs(shape, n),
                {"v2_ref": n.v2_ref, "v3_ref": n.v3_ref, "roll_ref": n.roll_ref},
                Table({"x": x[on], "y": y[on]}),
            )
        )
    return truth, exposures
