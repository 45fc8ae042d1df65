"""Detector effects: photon and read noise with matching variance arrays, cosmic rays, bad pixels.

Images are in MJy/sr. ``gain`` here is the number of electrons one MJy/sr produces in a pixel over
the exposure, so Poisson variance is ``signal / gain`` in (MJy/sr)^2.
"""

import numpy as np
from astropy.table import Table
from stdatamodels.jwst.datamodels import dqflags

DO_NOT_USE = dqflags.pixel["DO_NOT_USE"]
HOT = dqflags.pixel["HOT"]
DEAD = dqflags.pixel["DEAD"]


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


def cosmic_rays(rng, shape, rate, gain, err):
    """Cosmic-ray hits: an image of the deposited signal (MJy/sr) and a table of every hit pixel.

    ``rate`` is the number of events per pixel. Each event hits a core pixel with a log-uniform
    30-30000 electrons and up to three neighbours with 5-50 % of that. The table lists x, y (0-based
    pixels), amplitude (MJy/sr), snr (amplitude / err) and event number.
    """
    ny, nx = shape
    n_events = rng.poisson(rate * nx * ny)
    image = np.zeros(shape)
    xs, ys, amps, events = [], [], [], []
    steps = np.array([(1, 0), (-1, 0), (0, 1), (0, -1), (1, 1), (-1, -1), (1, -1), (-1, 1)])
    for event in range(n_events):
        x, y = rng.integers(0, nx), rng.integers(0, ny)
        core = np.exp(rng.uniform(np.log(30.0), np.log(30000.0))) / gain
        pixels = [(x, y, core)]
        for step in steps[rng.permutation(len(steps))[: rng.integers(0, 4)]]:
            pixels.append((x + step[0], y + step[1], core * rng.uniform(0.05, 0.5)))
        for px, py, amp in pixels:
            if 0 <= px < nx and 0 <= py < ny:
                image[py, px] += amp
                xs.append(px)
                ys.append(py)
                amps.append(amp)
                events.append(event)
    xs, ys = np.array(xs, int), np.array(ys, int)
    table = Table({"x": xs, "y": ys, "amplitude": np.array(amps), "event": np.array(events, int)})
    table["snr"] = table["amplitude"] / err[ys, xs] if len(xs) else np.array([])
    table["amplitude"].unit = "MJy/sr"
    return image, table
