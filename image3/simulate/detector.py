"""Detector effects: photon and read noise with matching variance arrays, cosmic rays of several
morphologies, bad pixels.

Images are in MJy/sr. ``gain`` here is the number of electrons one MJy/sr produces in a pixel over
the exposure, so Poisson variance is ``signal / gain`` in (MJy/sr)^2.
"""

import numpy as np
from astropy.table import Table
from stdatamodels.jwst.datamodels import dqflags

__all__ = [
    "DEAD",
    "DEFAULT_MIX",
    "DO_NOT_USE",
    "HOT",
    "JUMP_DET",
    "MORPHOLOGIES",
    "SATURATED",
    "add_noise",
    "bad_pixel_mask",
    "cosmic_rays",
]

DO_NOT_USE = dqflags.pixel["DO_NOT_USE"]
HOT = dqflags.pixel["HOT"]
DEAD = dqflags.pixel["DEAD"]
JUMP_DET = dqflags.pixel["JUMP_DET"]
SATURATED = dqflags.pixel["SATURATED"]


def add_noise(rng, signal, gain, read_noise_e, flat_error):
    """Noisy image and its variance arrays (poisson, rnoise, flat) for the expected ``signal``."""
    signal = np.clip(signal, 0.0, None)
    electrons = rng.poisson(signal * gain).astype(np.float64)
    read = rng.normal(0.0, read_noise_e, signal.shape)
    flat = rng.normal(0.0, 1.0, signal.shape) * flat_error * signal
    data = (electrons + read) / gain + flat
    var_poisson = signal / gain
    var_rnoise = np.full(signal.shape, (read_noise_e / gain) ** 2)
    var_flat = (flat_error * signal) ** 2
    return data, var_poisson, var_rnoise, var_flat


def bad_pixel_mask(seed, shape, fraction):
    """Fixed hot and dead pixels of the detector (the same in every exposure): two boolean maps."""
    rng = np.random.default_rng([seed, 999_999])
    n = rng.poisson(fraction * shape[0] * shape[1])
    hot = np.zeros(shape, bool)
    dead = np.zeros(shape, bool)
    hot[rng.integers(0, shape[0], n), rng.integers(0, shape[1], n)] = True
    dead[rng.integers(0, shape[0], n), rng.integers(0, shape[1], n)] = True
    dead &= ~hot
    return hot, dead


MORPHOLOGIES = ("single", "track", "core", "snowball")
FULL_WELL_E = 60_000.0
HALO_WIDTH = 2.0  # pixels of low-level charge around a snowball's core
DEFAULT_MIX = {"single": 0.3, "track": 0.35, "core": 0.34, "snowball": 0.01}


def _track_pixels(rng, max_pixels=10, samples_per_pixel=64):
    """A straight track at a uniform random angle through a random sub-pixel start: the pixels it
    crosses (dx, dy from the start's pixel), the length of track in each (pixels) and where along
    the track that charge lies (mean position, 0..1). The length (0.5-9 pixels) is shortened until
    the track crosses at most ``max_pixels`` pixels, lengthened until it crosses 2."""
    angle = rng.uniform(0.0, np.pi)
    x0, y0 = rng.uniform(-0.5, 0.5, 2)
    length = rng.uniform(0.5, 9.0)
    while True:
        n = max(int(length * samples_per_pixel), 2)
        t = (np.arange(n) + 0.5) / n
        px = np.rint(x0 + t * length * np.cos(angle)).astype(int)
        py = np.rint(y0 + t * length * np.sin(angle)).astype(int)
        keys, index = np.unique(np.stack([px, py]), axis=1, return_inverse=True)
        if 2 <= keys.shape[1] <= max_pixels:
            break
        length *= 0.9 if keys.shape[1] > max_pixels else 1.5
    index = index.ravel()
    path = np.bincount(index, minlength=keys.shape[1]) * (length / n)
    where = np.bincount(index, weights=t, minlength=keys.shape[1]) / np.bincount(index)
    return keys[0], keys[1], path, where


def _track_profile(rng, t):
    """Relative amplitudes along a track (max 1) that vary smoothly: flat for a third of the tracks,
    else a gradient (end-to-start ratio log-uniform 0.2-5) times a bump of up to 50 %."""
    if rng.uniform() < 1.0 / 3.0:
        return np.ones_like(t)
    ratio = np.exp(rng.uniform(np.log(0.2), np.log(5.0)))
    profile = ratio**t * (1.0 + rng.uniform(0.0, 0.5) * np.sin(np.pi * t))
    return profile / profile.max()


def _event(rng, morphology, peak_e):
    """Pixel offsets (dx, dy), charge (electrons) and DQ-flagged (bool) of one event of ``morphology``
    whose brightest unflagged pixel holds ``peak_e``."""
    if morphology == "single":
        return np.zeros(1, int), np.zeros(1, int), np.array([peak_e]), np.zeros(1, bool)
    if morphology == "track":
        dx, dy, path, t = _track_pixels(rng)
        charge = path * _track_profile(rng, t)
        return dx, dy, peak_e * charge / charge.max(), np.zeros(dx.size, bool)
    if morphology == "core":
        steps = np.array([(1, 0), (-1, 0), (0, 1), (0, -1), (1, 1), (-1, -1), (1, -1), (-1, 1)])
        chosen = steps[rng.permutation(len(steps))[: rng.integers(0, 4)]]
        dx = np.concatenate([[0], chosen[:, 0]]).astype(int)
        dy = np.concatenate([[0], chosen[:, 1]]).astype(int)
        charge = np.concatenate([[peak_e], peak_e * rng.uniform(0.05, 0.5, len(chosen))])
        return dx, dy, charge, np.zeros(dx.size, bool)
    # snowball: a saturated disc of 5-20 pixels (flagged by ramp fitting) in a faint halo
    n_core = int(rng.integers(5, 21))
    yy, xx = np.mgrid[-6:7, -6:7]
    r = np.hypot(xx + rng.uniform(-0.5, 0.5), yy + rng.uniform(-0.5, 0.5))
    order = np.argsort(r, axis=None)
    core = np.zeros(r.size, bool)
    core[order[:n_core]] = True
    r_core = r.ravel()[order[n_core - 1]]
    depth = r.ravel() - r_core
    halo = ~core & (depth <= HALO_WIDTH)
    # the halo's brightest pixel, next to the core, holds a log-uniform 20-200 electrons
    level = np.exp(rng.uniform(np.log(20.0), np.log(200.0)))
    charge = np.where(core, FULL_WELL_E, level * np.exp(-depth / (HALO_WIDTH / 3.0)))
    keep = core | halo
    return xx.ravel()[keep], yy.ravel()[keep], charge[keep], core[keep]


def cosmic_rays(rng, shape, rate, gain, err, mix=None, energy_e=(30.0, 50_000.0)):
    """Cosmic-ray hits: the deposited signal (MJy/sr), the DQ ramp fitting sets, and every hit pixel.

    ``rate`` is the number of events per pixel; ``mix`` the relative rates of the morphologies
    (``MORPHOLOGIES``; default ``DEFAULT_MIX``). Every event's brightest pixel holds a log-uniform
    ``energy_e`` electrons:

    - ``single``: one pixel;
    - ``track``: a straight track crossing 2-10 pixels at a uniform angle, each pixel's charge
      its length of track times a charge density varying smoothly along it (a third flat;
      :func:`_track_profile`), so a track crossing a pixel's corner leaves little there;
    - ``core``: a core with up to three of its eight neighbours at 5-50 % of it;
    - ``snowball``: a disc of 5-20 pixels that saturates (``FULL_WELL_E``), which ramp fitting
      detects as a jump and flags JUMP_DET + SATURATED (the rate is then fitted from the groups
      before it, so the data hold no excess there), in an unflagged halo ``HALO_WIDTH`` pixels wide
      of 20-200 electrons next to the core, falling off exponentially (the event's energy does
      not apply).

    Returns the image (MJy/sr), the DQ image (uint32) and a table of every hit pixel: x, y (0-based
    pixels), amplitude (MJy/sr, deposited), snr (amplitude / err), event number, morphology and
    dq_flagged (True for a snowball's saturated core: not in the data).
    """
    mix = DEFAULT_MIX if mix is None else mix
    names = [m for m in MORPHOLOGIES if mix.get(m, 0) > 0]
    weights = np.array([mix[m] for m in names], float)
    ny, nx = shape
    n_events = rng.poisson(rate * nx * ny) if names else 0
    kinds = rng.choice(len(names), n_events, p=weights / weights.sum()) if n_events else []
    low, high = np.log(energy_e[0]), np.log(energy_e[1])
    columns = {k: [] for k in ("x", "y", "charge", "event", "morphology", "dq_flagged")}
    for event, kind in enumerate(kinds):
        x, y = rng.integers(0, nx), rng.integers(0, ny)
        dx, dy, charge, flagged = _event(rng, names[kind], np.exp(rng.uniform(low, high)))
        px, py = x + dx, y + dy
        inside = (px >= 0) & (px < nx) & (py >= 0) & (py < ny)
        for key, values in (("x", px), ("y", py), ("charge", charge), ("dq_flagged", flagged)):
            columns[key].append(values[inside])
        columns["event"].append(np.full(inside.sum(), event))
        columns["morphology"].append(np.full(inside.sum(), names[kind]))
    cat = {k: np.concatenate(v) if v else np.zeros(0) for k, v in columns.items()}
    xs, ys = cat["x"].astype(int), cat["y"].astype(int)
    flagged = cat["dq_flagged"].astype(bool)
    amplitude = cat["charge"].astype(float) / gain
    image = np.zeros(shape)
    np.add.at(image, (ys[~flagged], xs[~flagged]), amplitude[~flagged])
    dq = np.zeros(shape, np.uint32)
    dq[ys[flagged], xs[flagged]] = JUMP_DET | SATURATED
    table = Table(
        {
            "x": xs,
            "y": ys,
            "amplitude": amplitude,
            "event": cat["event"].astype(int),
            "morphology": cat["morphology"].astype(str) if len(xs) else np.zeros(0, "U8"),
            "dq_flagged": flagged,
        }
    )
    table["snr"] = table["amplitude"] / err[ys, xs] if len(xs) else np.array([])
    table["amplitude"].unit = "MJy/sr"
    return image, dq, table
