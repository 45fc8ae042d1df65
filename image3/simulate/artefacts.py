"""Real-sky artefacts for the simulator, each opt-in (``simulate.artefacts``).

- ``saturated_stars``: bright stars (``bright_star_count`` of AB ``bright_star_mag``) added to the
  scene, and saturation for every source: a pixel whose charge reaches ``full_well_e`` within the
  first group of the ramp has no slope (SCI, ERR and VAR_* NaN, DQ ``SATURATED | DO_NOT_USE``, as
  ramp fitting and the calibration after it leave such pixels); one that saturates later keeps the
  slope of its unsaturated groups, with the Poisson noise of that shorter time.
- ``diffraction_spikes``: the PSF's wings for every star bright enough to show them: JWST's six
  spikes (the hexagonal segments, rays every 60 degrees from +V3) plus two fainter ones along V2
  (the secondary's struts), fixed in the telescope's V2/V3 frame, so on the sky they turn with
  the roll; and the Airy halo beyond the core's ``10 lambda/D``. A ray's brightness along it is
  ``(2/pi) r0 / (a^2 + r0^2)`` of its flux per arcsec (``a`` from the star, ``r0 = 2 lambda/D``),
  across it a Gaussian of sigma ``0.45 lambda/D``; the halo falls as ``(r^2 + r_h^2)^(-3/2)``
  (``r_h = 10 lambda/D``). The wings carry ``spike_fraction`` of the star's flux (the faint rays
  15 % of a main one each) plus 2 % in the halo, taken from the core, so the star's total flux is
  its catalogue flux. Wings are drawn out to where a main ray falls to 0.2 of the sky's pixel
  noise (at most ``MAX_WING_ARCSEC``, tapered over their last quarter).
- ``one_over_f``: NIRCam's 1/f readout noise, horizontal stripes: each row of each of the four
  amplifiers (512-column bands of the full frame; MIRI's amplifiers interleave columns) gets an
  offset; the offsets of one amplifier follow a 1/f spectrum along the rows (the slow readout
  direction), 80 % of their variance common to the four amplifiers. Their RMS is
  ``one_over_f_rms`` times the sky's pixel noise. Not in ERR or the variance arrays (as in
  official files).
- ``large_galaxy``: one Sersic galaxy (index 0.8-2) of effective radius ``large_galaxy_r_eff``
  arcsec and AB ``large_galaxy_mag``, clear of the bright stars.
- ``gradient``: a linear sky gradient across each detector (fixed on the detector: stray light
  comes in the telescope's frame) of ``gradient`` x the sky from edge to edge, zero on average
  over the detector, so the exposure's true level stays its sky level.
- ``wisp``: a faint diffuse blob fixed on each detector (a Gaussian of sigma 1/8 of the
  detector's width) peaking at ``wisp`` x the sky; not part of the sky level.

Images are in MJy/sr, positions in 0-based detector pixels, lengths on the sky in arcsec. Every
artefact draws from random streams of its own, so turning one on leaves the rest of the
simulation (sources, noise, cosmic rays) as it was.
"""

from dataclasses import dataclass

import numpy as np

from ..utils.psf_width import lambda_over_d_pixels

__all__ = [
    "ARTEFACTS",
    "MAX_WING_ARCSEC",
    "ArtefactSettings",
    "amplifier_index",
    "artefact_sources",
    "one_over_f",
    "psf_wings",
    "saturation",
    "sky_structure",
    "spike_angles",
    "wing_fraction",
]

ARTEFACTS = ("saturated_stars", "diffraction_spikes", "one_over_f", "large_galaxy", "gradient", "wisp")
MAX_WING_ARCSEC = 10.0
HALO_FRACTION = 0.02  # the Airy pattern's flux beyond 10 lambda/D
FAINT_RAY = 0.15  # a V2 ray's flux relative to a main one
_COMMON_1F = 0.8  # fraction of the 1/f variance common to the amplifiers
_WING_LIMIT = 0.2  # wings drawn to where a main ray is this fraction of the sky's pixel noise
_STREAM = 28  # random streams of the artefacts: [seed, _STREAM, ...]


@dataclass(frozen=True)
class ArtefactSettings:
    """The artefacts a simulation renders (``enabled``, names from ``ARTEFACTS``) and their
    parameters (see config.yaml ``simulate``)."""

    enabled: frozenset = frozenset()
    full_well_e: float = 60_000.0
    spike_fraction: float = 0.03
    one_over_f_rms: float = 0.5
    gradient: float = 0.03
    wisp: float = 0.04

    @classmethod
    def from_settings(cls, settings):
        """From the ``simulate`` config section (keys absent: defaults, nothing enabled)."""
        unknown = set(settings.get("artefacts") or ()) - set(ARTEFACTS)
        if unknown:
            from ..errors import InputError

            raise InputError(f"simulate.artefacts: unknown {sorted(unknown)} (choose from {list(ARTEFACTS)})")
        keys = ("full_well_e", "spike_fraction", "one_over_f_rms", "gradient", "wisp")
        return cls(
            enabled=frozenset(settings.get("artefacts") or ()),
            **{k: float(settings[k]) for k in keys if k in settings},
        )

    def __contains__(self, name):
        return name in self.enabled


def artefact_sources(settings, half_width_arcsec, scene_size):
    """The scene rows the artefacts add (an empty table when none): ``bright_star_count`` bright
    stars within ``half_width_arcsec`` (arcsec) of the field centre, and the large galaxy within
    half of that; each placed where it lies farthest from those before it among 64 random
    candidates (so they stay apart). Their ``artefact`` column says which (``bright_star``,
    ``large_galaxy``); ids continue after the scene's ``scene_size`` sources."""
    from .scene import make_scene_rows

    enabled = set(settings.get("artefacts") or ())
    rng = np.random.default_rng([settings["seed"], _STREAM])
    placed = []

    def place(reach):
        candidates = rng.uniform(-reach, reach, (64, 2))
        if not placed:
            return candidates[0]
        gaps = np.hypot(*(candidates[:, None, :] - np.array(placed)[None, :, :]).transpose(2, 0, 1))
        return candidates[np.argmax(gaps.min(axis=1))]

    rows = []
    if "saturated_stars" in enabled:
        for _ in range(settings["bright_star_count"]):
            placed.append(place(half_width_arcsec))
            rows.append(
                {"type": "star", "artefact": "bright_star", "x": placed[-1][0], "y": placed[-1][1],
                 "mag_ab": rng.uniform(*settings["bright_star_mag"])}
            )  # fmt: skip
    if "large_galaxy" in enabled:
        xy = place(0.5 * half_width_arcsec)
        rows.append(
            {"type": "galaxy", "artefact": "large_galaxy", "x": xy[0], "y": xy[1],
             "mag_ab": settings["large_galaxy_mag"], "sersic_n": rng.uniform(0.8, 2.0),
             "r_eff": rng.uniform(*settings["large_galaxy_r_eff"]), "axis_ratio": rng.uniform(0.5, 0.9),
             "pa": rng.uniform(0.0, 180.0)}
        )  # fmt: skip
    return make_scene_rows(rows, settings["ra"], settings["dec"], first_id=scene_size + 1)


def spike_angles():
    """The diffraction spikes' directions (deg from +V3 towards +V2) and relative fluxes: six main
    rays every 60 degrees and two faint ones along V2."""
    main = [(a, 1.0) for a in (0.0, 60.0, 120.0, 180.0, 240.0, 300.0)]
    return main + [(90.0, FAINT_RAY), (270.0, FAINT_RAY)]


def psf_wings(flux_jy, x, y, to_v2v3, shape, *, filter_name, pixel_scale, fraction, noise_jy_arcsec2):
    """Diffraction spikes and halo of a star of ``flux_jy`` at detector (x, y), in Jy per pixel.

    ``to_v2v3`` is the exposure's detector -> V2/V3 transform (arcsec), which orients the spikes;
    ``fraction`` the main rays' share of the flux (:data:`HALO_FRACTION` more goes to the halo);
    ``noise_jy_arcsec2`` the sky's pixel noise as a surface brightness, which sets how far the
    wings are drawn. Returns ``(image_slice, stamp)`` to add to the image, or None when the wings
    fall below 0.2 of the noise within twice the core's radius (a faint star).
    """
    lam_d = lambda_over_d_pixels(filter_name, pixel_scale) * pixel_scale  # arcsec
    r0, r_halo, sigma = 2.0 * lam_d, 10.0 * lam_d, 0.45 * lam_d
    rays = spike_angles()
    per_ray = flux_jy * _main_ray_share(fraction)
    peak_density = per_ray * (2 / np.pi) * r0 / (np.sqrt(2 * np.pi) * sigma)  # Jy/arcsec^2 x arcsec^2
    reach = np.sqrt(peak_density / (_WING_LIMIT * noise_jy_arcsec2))
    if reach <= 2 * r_halo:  # below the noise beyond the core: not worth drawing
        return None
    reach = min(reach, MAX_WING_ARCSEC)
    # pixel offsets -> V2/V3 offsets (arcsec) through the local Jacobian at the star
    v2, v3 = to_v2v3(np.array([x, x + 0.5, x - 0.5, x, x]), np.array([y, y, y, y + 0.5, y - 0.5]))
    jac = np.array([[v2[1] - v2[2], v2[3] - v2[4]], [v3[1] - v3[2], v3[3] - v3[4]]])
    area = abs(np.linalg.det(jac))  # arcsec^2 per pixel
    half = int(np.ceil(reach / pixel_scale)) + 1
    ny, nx = shape
    ix, iy = int(np.round(x)), int(np.round(y))
    x0, x1 = max(ix - half, 0), min(ix + half + 1, nx)
    y0, y1 = max(iy - half, 0), min(iy + half + 1, ny)
    if x1 <= x0 or y1 <= y0:
        return None
    sub = (np.arange(3) + 0.5) / 3 - 0.5  # 3 x 3 samples per pixel
    gx = (np.arange(x0, x1)[:, None] + sub[None, :]).ravel() - x
    gy = (np.arange(y0, y1)[:, None] + sub[None, :]).ravel() - y
    dx, dy = np.meshgrid(gx, gy)
    dv2 = jac[0, 0] * dx + jac[0, 1] * dy
    dv3 = jac[1, 0] * dx + jac[1, 1] * dy
    del dx, dy
    r = np.hypot(dv2, dv3)
    taper = np.clip((reach - r) / (0.25 * reach), 0.0, 1.0)
    surface = flux_jy * HALO_FRACTION * r_halo / (2 * np.pi) * (r**2 + r_halo**2) ** -1.5
    for angle, weight in rays:
        u2, u3 = np.sin(np.deg2rad(angle)), np.cos(np.deg2rad(angle))
        along = dv2 * u2 + dv3 * u3
        across = dv2 * u3 - dv3 * u2
        ray = (2 / np.pi) * r0 / (along**2 + r0**2) * np.exp(-0.5 * (across / sigma) ** 2)
        surface += np.where(along > 0, per_ray * weight * ray / (np.sqrt(2 * np.pi) * sigma), 0.0)
    surface *= taper
    binned = surface.reshape(y1 - y0, 3, x1 - x0, 3).mean(axis=(1, 3)) * area
    return (slice(y0, y1), slice(x0, x1)), binned


def _main_ray_share(fraction):
    """The share of a star's flux in one main spike when the six carry ``fraction``."""
    return fraction / sum(1 for _, w in spike_angles() if w == 1.0)


def wing_fraction(fraction):
    """The share of a star's flux its wings take from its core (rays + halo)."""
    return _main_ray_share(fraction) * sum(w for _, w in spike_angles()) + HALO_FRACTION


def saturation(signal, gain, exptime, group_time, full_well_e):
    """Where and how ramp fitting's saturation handling leaves each pixel of expected ``signal``
    (MJy/sr over ``exptime`` s; ``gain`` electrons per MJy/sr over the exposure).

    Returns ``(lost, good_time)``: ``lost`` True where the charge reaches ``full_well_e`` within the
    first group (``group_time`` s: no slope), and the time (s) of the groups read before saturation
    elsewhere (``exptime`` where the pixel never saturates)."""
    rate = np.clip(signal, 0.0, None) * gain / exptime  # electrons per second
    with np.errstate(divide="ignore"):
        t_full = np.where(rate > 0, full_well_e / rate, np.inf)
    groups = np.floor(t_full / group_time)
    lost = groups < 1
    good_time = np.where(t_full >= exptime, exptime, np.maximum(groups, 1) * group_time)
    return lost, np.minimum(good_time, exptime)


def amplifier_index(shape, *, instrument="nircam_sw", xstart=1):
    """Each column's readout amplifier (0-3): NIRCam's four 512-column bands of the full frame
    (``xstart``: the first column's 1-based full-frame index; the synthetic detector splits its
    own width in four), MIRI's columns interleaved four by four."""
    nx = shape[1]
    columns = np.arange(nx) + xstart - 1
    if instrument == "miri":
        return columns % 4
    width = 512 if instrument != "synthetic" else max(nx // 4, 1)
    return np.clip(columns // width, 0, 3)


def one_over_f(rng, shape, rms, amplifiers):
    """Row offsets of 1/f readout noise (MJy/sr): ``(image, offsets)`` with ``offsets`` of shape
    (ny, 4), one column per amplifier, and ``image`` each row's offset spread over its amplifier's
    columns (``amplifiers``, see :func:`amplifier_index`)."""
    ny = shape[0]
    freq = np.fft.rfftfreq(ny)
    scale = np.zeros_like(freq)
    scale[1:] = freq[1:] ** -0.5

    def series():
        spectrum = (rng.normal(size=freq.size) + 1j * rng.normal(size=freq.size)) * scale
        s = np.fft.irfft(spectrum, n=ny)
        return s / s.std()

    common = series()
    offsets = np.column_stack(
        [np.sqrt(_COMMON_1F) * common + np.sqrt(1 - _COMMON_1F) * series() for _ in range(4)]
    )
    offsets *= rms / offsets.std(axis=0)
    return offsets[:, amplifiers], offsets


def sky_structure(shape, sky, *, gradient, wisp, seed):
    """The sky's structure on a detector (MJy/sr): a linear gradient of ``gradient`` x ``sky`` from
    edge to edge along a direction fixed by ``seed`` (zero mean over the detector) and a Gaussian
    blob peaking at ``wisp`` x ``sky``. Returns ``(gradient_image, wisp_image)``."""
    rng = np.random.default_rng([*np.atleast_1d(seed), _STREAM, 1])
    ny, nx = shape
    angle = rng.uniform(0.0, 2 * np.pi)
    yy, xx = np.mgrid[0:ny, 0:nx]
    u = (xx - (nx - 1) / 2) / nx * np.cos(angle) + (yy - (ny - 1) / 2) / ny * np.sin(angle)
    ramp = u / (np.abs(np.cos(angle)) + np.abs(np.sin(angle)))  # -0.5 .. 0.5 corner to corner
    ramp -= ramp.mean()
    cx, cy = rng.uniform(0.25, 0.75) * nx, rng.uniform(0.25, 0.75) * ny
    sigma = nx / 8.0
    blob = np.exp(-0.5 * ((xx - cx) ** 2 + (yy - cy) ** 2) / sigma**2)
    return gradient * sky * ramp, wisp * sky * blob
