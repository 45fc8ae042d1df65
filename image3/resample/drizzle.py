"""Drizzle exposures onto an output grid and assemble the official ``_i2d`` product.

Images are surface brightness (MJy/sr), so drizzle's weighted mean conserves them without
rescaling (``iscale=1``). Variance arrays are drizzled with squared weights (drizzle's ``data2``),
which is the exact propagation of each input pixel's variance to the output pixel's variance; the
covariance between neighbouring output pixels that drizzling creates is not in ERR. (The official
step drizzles each exposure's sqrt(variance) as a weighted mean and squares it, then combines the
exposures with squared weights: the variance of an exposure's output pixel is that of a mean of
fully correlated input pixels, larger than ours where several input pixels overlap it.)

An exposure's variance array that is absent, empty or not of SCI's shape is read as unknown
(``None``), with a warning naming the file, as the official step goes on: the output variance and
ERR are NaN wherever that exposure contributed, and with ``weight_type: ivm`` a missing VAR_RNOISE
gives its good pixels weight 1 (the official's choice).
"""

import logging
import mmap
import os
from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from ..io.dq import excluded_exposure, good_pixels, with_outliers
from ..wcs.pixmap import pixel_map
from .settings import DrizzleSettings, fill_value

__all__ = [
    "VARIANCES",
    "checked_variance",
    "coverage_count",
    "Exposure",
    "Mosaic",
    "read_variances",
    "weight_map",
]

_BAD_INPUT = 2  # exit status of a drizzle process stopped by an InputError
VARIANCES = ("var_poisson", "var_rnoise", "var_flat")
log = logging.getLogger("image3")


def checked_variance(array, shape, name, source):
    """``array`` (variance ``name``, e.g. ``"var_rnoise"``) when it is an array of SCI's ``shape``;
    else None (unknown), with a warning naming ``source`` (the file or exposure): an absent, empty
    or differently shaped variance array, which the official resample skips."""
    if array is not None and np.shape(array) == tuple(shape):
        return array
    what = "absent or empty" if array is None or np.size(array) == 0 else f"of shape {np.shape(array)}"
    log.warning(
        "%s: %s is %s, not SCI's %s: its variance is unknown (NaN in the output variance and ERR "
        "where it contributes)%s",
        source,
        name.upper(),
        what,
        tuple(shape),
        "; weight_type ivm gives its good pixels weight 1" if name == "var_rnoise" else "",
    )
    return None


def read_variances(path, shape, names=VARIANCES) -> dict:
    """{name: array or None} of the variance extensions ``names`` of the level-2b file ``path``
    (astropy.io.fits alone), None for one absent, empty or not of SCI's ``shape`` (see
    :func:`checked_variance`)."""
    from astropy.io import fits

    with fits.open(path, memmap=False) as hdul:
        found = {n: hdul[n.upper()].data if n.upper() in hdul else None for n in names}
    return {n: checked_variance(a, shape, n, path) for n, a in found.items()}


@dataclass
class Exposure:
    """What drizzling needs of one exposure; images in MJy/sr (variances in (MJy/sr)^2, None when
    unknown: see :func:`checked_variance`).

    ``sky`` is a background level to subtract (0 when none is known or it was already subtracted);
    ``exptime`` in seconds; ``tmeasure`` the measurement time (TMEASURE, s), which
    ``weight_type: exptime`` weights by as the official step does (None: ``exptime`` instead).
    """

    data: np.ndarray
    dq: np.ndarray
    var_poisson: np.ndarray | None
    var_rnoise: np.ndarray | None
    var_flat: np.ndarray | None
    wcs: object
    exptime: float
    sky: float = 0.0
    tmeasure: float | None = None

    @property
    def weight_time(self) -> float:
        """The ``exptime`` weight (s): TMEASURE, else the exposure time (official)."""
        return self.exptime if self.tmeasure is None else self.tmeasure

    @classmethod
    def from_lean(cls, lean, variances, *, sky_level=None, outliers=None):
        """From a :class:`~image3.io.fits_read.LeanExposure` with SCI and DQ and its ``variances``
        (:func:`read_variances`; no WCS: pass the pixel map to :meth:`Mosaic.add`).
        ``sky_level`` (MJy/sr): the exposure's sky (skymatch's level), of which what is still in
        SCI gets subtracted; None: a level the file records but has not subtracted. ``outliers``:
        a boolean mask of the outlier step's flags, added to DQ as OUTLIER and DO_NOT_USE. The
        ``exptime`` weight is the file's TMEASURE, else its exposure time."""
        a = lean.arrays
        sky = lean.unsubtracted_sky if sky_level is None else lean.remaining_sky(sky_level)
        return cls(
            data=a["sci"],
            dq=a["dq"] if outliers is None else with_outliers(a["dq"], outliers),
            **{v: variances.get(v) for v in VARIANCES},
            wcs=None,
            exptime=lean.exptime,
            sky=sky,
            tmeasure=lean.tmeasure,
        )

    @classmethod
    def from_model(cls, model):
        """From a level-2b ImageModel; subtracts ``meta.background.level`` unless already done."""
        bkg = model.meta.background
        sky = bkg.level if (bkg.level is not None and not bkg.subtracted) else 0.0
        source = model.meta.filename or "exposure"
        exposure = model.meta.exposure
        variances = {
            v: checked_variance(getattr(model, v) if model.hasattr(v) else None, model.data.shape, v, source)
            for v in VARIANCES
        }
        return cls(
            data=model.data,
            dq=model.dq,
            **variances,
            wcs=model.meta.wcs,
            exptime=float(exposure.exposure_time or exposure.effective_exposure_time or 1.0),
            sky=float(sky),
            tmeasure=exposure.measurement_time,
        )


def weight_map(exposure: Exposure, settings: DrizzleSettings) -> np.ndarray:
    """Per-pixel drizzle weight, 0 for bad pixels: 1/VAR_RNOISE (``ivm``; 1 when VAR_RNOISE is
    unknown, as the official step) or the measurement time (``exptime``: TMEASURE, else the
    exposure time, as the official step)."""
    good = good_pixels(exposure.dq, settings.good_bits, "resample.good_bits")
    good &= np.isfinite(exposure.data)
    if settings.weight_type == "ivm" and exposure.var_rnoise is not None:
        var = exposure.var_rnoise
        good &= np.isfinite(var) & (var > 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            weight = np.where(good, 1.0 / var, 0.0)
    elif settings.weight_type == "ivm":
        weight = good.astype(np.float32)
    else:
        weight = np.where(good, exposure.weight_time, 0.0)
    return weight.astype(np.float32)


class Mosaic:
    """Accumulates exposures drizzled onto ``grid``: science, weight, context and variances."""

    def __init__(self, grid, settings: DrizzleSettings, n_inputs: int, *, first_input=0):
        """``n_inputs``: how many exposures the mosaic is made of (its context has a bit for each);
        ``first_input``: the context bit of the first exposure added to this object."""
        from drizzle.resample import Drizzle

        self.grid = grid
        self.settings = settings
        self.n_inputs = n_inputs
        fill = settings.fillval
        self._driz = Drizzle(
            kernel=settings.kernel,
            fillval=fill,
            fillval2=fill,
            out_shape=grid.shape,
            begin_ctx_id=first_input,
            max_ctx_id=max(n_inputs - 1, first_input),
        )
        self.exptime = 0.0
        self.n_added = 0
        self.used = np.zeros(n_inputs, bool)  # which inputs add_all drizzled (not left out)

    def add(self, exposure: Exposure, native_scale: float, *, pixmap=None, name="exposure") -> bool:
        """Drizzle one exposure (``native_scale``: its pixel scale in arcsec). ``pixmap``: its pixel
        map onto the grid (e.g. from its sampled geometry); by default computed from its WCS.

        An exposure without a valid pixel (``dq.has_valid_pixels``) is left out, with a warning
        naming ``name``, and keeps its context bit (empty); returns whether it was drizzled.
        """
        s = self.settings
        used = not excluded_exposure(exposure.data, exposure.dq, name)
        if pixmap is None:
            pixmap = pixel_map(exposure.wcs, self.grid.wcs, exposure.data.shape, s.pixmap_step)
        data = _finite(exposure.data - exposure.sky)
        variances = [_variance(getattr(exposure, v), data.shape) for v in VARIANCES]
        self._driz.add_image(
            data=data.astype(np.float32),
            data2=[v.astype(np.float32) for v in variances],
            exptime=exposure.exptime,
            pixmap=pixmap,
            weight_map=weight_map(exposure, s) * np.float32(used),  # excluded: drizzled with weight 0
            pixfrac=s.pixfrac,
            iscale=1.0,
            pixel_scale_ratio=self.grid.pixel_scale / native_scale,
            in_units="cps",
        )
        self.exptime += exposure.exptime * used
        self.n_added += used
        return used

    def add_all(self, load, n, *, processes=1):
        """Drizzle inputs ``0 .. n-1``, ``load(k)`` giving the keyword arguments of :meth:`add`
        for input ``k`` (``exposure``, ``native_scale``, ``pixmap``, ``name``), read when needed.

        With ``processes > 1`` the inputs are cut into that many consecutive runs, each drizzled in
        a forked process onto arrays of its own, which are then merged into this mosaic: drizzle's
        output is the weighted mean of its inputs (the variances with squared weights), so the
        merge is exact to float32 rounding. Each process holds one run's arrays of the output grid
        besides its input.
        """
        runs = np.array_split(np.arange(n), max(1, min(processes, n)))
        children = [_fork_run(self, load, run) for run in runs[1:]]
        for k in runs[0]:
            self.used[k] = self.add(**load(k))
        for pid, shared in children:
            _, status = os.waitpid(pid, 0)
            if os.waitstatus_to_exitcode(status) == _BAD_INPUT:
                raise InputError(f"drizzling inputs {shared['run']}: bad input (see the message above)")
            if status != 0:
                raise RuntimeError(f"a drizzle process for inputs {shared['run']} failed (status {status})")
            self._merge(shared)

    def _merge(self, other: dict):
        """Combine another run's output arrays (see _fork_run) into this mosaic, row block by row
        block: weighted means of the science and, with squared weights, of the variances (NaN, an
        unknown variance, stays NaN where its run gave weight)."""
        d = self._driz
        for rows in _row_blocks(self.grid.shape[0]):
            w1, w2 = d.out_wht[rows], other["wht"][rows]
            total = w1 + w2
            with np.errstate(divide="ignore", invalid="ignore"):
                f1 = np.where(total != 0, w1 / total, 0.0).astype(np.float32)
                f2 = np.where(total != 0, w2 / total, 0.0).astype(np.float32)
            d.out_img[rows] = _finite(d.out_img[rows]) * f1 + _finite(other["img"][rows]) * f2
            for mine, theirs in zip(d.out_img2, other["img2"], strict=True):
                mine[rows] = _weighted(mine[rows], f1**2) + _weighted(theirs[rows], f2**2)
            d.out_wht[rows] = total
            d.out_ctx[:, rows] |= other["ctx"][:, rows]
        self.exptime += float(other["totals"][0])
        self.n_added += int(other["totals"][1])
        self.used |= other["used"]

    def arrays(self) -> dict:
        """Output arrays: data, err, wht, con and the three variances.

        Pixels without positive total weight (nothing landed, or lanczos' negative lobes cancelled
        it) get ``fillval`` in data and NaN in the errors; so do the variances (and ERR) wherever
        an exposure whose variance is unknown contributed.
        """
        wht = self._driz.out_wht
        empty = wht <= 0
        data = np.where(empty, fill_value(self.settings.fillval), self._driz.out_img).astype(np.float32)
        out = {"data": data, "wht": wht, "con": self._driz.out_ctx}
        for name, var in zip(VARIANCES, self._driz.out_img2, strict=True):
            out[name] = np.where(empty, np.nan, var).astype(np.float32)
        out["err"] = np.sqrt(sum(out[v] for v in VARIANCES)).astype(np.float32)
        return out


def _fork_run(mosaic: Mosaic, load, run):
    """Drizzle inputs ``run`` (consecutive) in a forked process onto a fresh mosaic like
    ``mosaic``; its output arrays come back in anonymous shared memory. Returns (pid, arrays)."""
    ny, nx = mosaic.grid.shape
    planes = (mosaic.n_inputs - 1) // 32 + 1
    shared = {
        "img": _shared((ny, nx), np.float32),
        "wht": _shared((ny, nx), np.float32),
        "ctx": _shared((planes, ny, nx), np.int32),
        "img2": [_shared((ny, nx), np.float32) for _ in VARIANCES],
        "totals": _shared((2,), np.float64),
        "used": _shared((mosaic.n_inputs,), bool),
        "run": f"{run[0]}-{run[-1]}",
    }
    pid = os.fork()
    if pid:
        return pid, shared
    status = 1
    try:
        part = Mosaic(mosaic.grid, mosaic.settings, mosaic.n_inputs, first_input=int(run[0]))
        for k in run:
            shared["used"][k] = part.add(**load(k))
        d = part._driz
        shared["img"][:], shared["wht"][:], shared["ctx"][:] = d.out_img, d.out_wht, d.out_ctx
        for target, var in zip(shared["img2"], d.out_img2, strict=True):
            target[:] = var
        shared["totals"][:] = part.exptime, part.n_added
        status = 0
    except InputError as err:
        logging.getLogger("image3").error("%s", err)
        status = _BAD_INPUT
    except BaseException:
        logging.getLogger("image3").exception("drizzling inputs %s failed", shared["run"])
    finally:
        os._exit(status)


def _shared(shape, dtype) -> np.ndarray:
    """A zeroed array in anonymous shared memory (seen by processes forked afterwards)."""
    size = int(np.prod(shape)) * np.dtype(dtype).itemsize
    return np.frombuffer(mmap.mmap(-1, max(size, 1)), dtype=dtype, count=int(np.prod(shape))).reshape(shape)


def _row_blocks(ny, rows=256):
    return [slice(y, min(y + rows, ny)) for y in range(0, ny, rows)]


def _variance(var, shape):
    """A variance array as drizzle's ``data2`` takes it: NaN and infinities as 0; all NaN when
    unknown (None), so the output variance is NaN wherever the exposure gives weight."""
    if var is None:
        return np.full(shape, np.nan, np.float32)
    return np.nan_to_num(var, nan=0.0, posinf=0.0)


def _weighted(var, factor):
    """``var * factor``, 0 where ``factor`` is 0 (no weight: drizzle's fill, or an unknown
    variance that did not contribute)."""
    with np.errstate(invalid="ignore"):
        return np.where(factor != 0, var * factor, np.float32(0))


def _finite(a):
    """``a`` with NaN and infinities (bad input pixels, drizzle's fill where nothing landed) as 0."""
    return np.nan_to_num(a, nan=0.0, posinf=0.0, neginf=0.0)


def coverage_count(con) -> np.ndarray:
    """Number of exposures that contributed to each output pixel, from the context array.

    ``con`` is the (nplanes, ny, nx) or (ny, nx) int32 context of an ``_i2d`` (bit k of plane p:
    input 32 p + k). Counted bit by bit, so the memory is that of one plane and the uint16 count.
    """
    planes = np.atleast_3d(np.asarray(con).T).T
    count = np.zeros(planes.shape[1:], np.uint16)
    for plane in planes:
        bits = plane.astype("<u4")
        while bits.any():
            count += (bits & 1).astype(np.uint16)
            bits >>= 1
    return count
