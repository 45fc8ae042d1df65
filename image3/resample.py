"""Drizzle exposures onto an output grid and assemble the official ``_i2d`` product.

Images are surface brightness (MJy/sr), so drizzle's weighted mean conserves them without
rescaling (``iscale=1``). Variance arrays are drizzled with squared weights (drizzle's ``data2``),
which is the exact propagation of each input pixel's variance to the output pixel's variance; the
covariance between neighbouring output pixels that drizzling creates is not in ERR.
"""

from dataclasses import dataclass

import numpy as np

from .dq import excluded_exposure, good_pixels, with_outliers
from .errors import InputError
from .pixmap import pixel_map

KERNELS = ("square", "point", "turbo", "gaussian", "lanczos2", "lanczos3")
VARIANCES = ("var_poisson", "var_rnoise", "var_flat")


@dataclass(frozen=True)
class DrizzleSettings:
    """Parameters of the ``resample`` config section that the drizzle itself uses."""

    kernel: str = "square"
    pixfrac: float = 1.0
    fillval: str = "NaN"
    weight_type: str = "ivm"
    good_bits: str = "~DO_NOT_USE+NON_SCIENCE"
    pixmap_step: int = 16

    def __post_init__(self):
        if self.kernel not in KERNELS:
            raise InputError(f"resample.kernel = {self.kernel!r}: choose one of {KERNELS}")
        if self.weight_type not in ("ivm", "exptime"):
            raise InputError(f"resample.weight_type = {self.weight_type!r}: use 'ivm' or 'exptime'")
        try:
            _fill_value(self.fillval)
        except ValueError:
            raise InputError(f"resample.fillval = {self.fillval!r}: a number, 'NaN' or 'INDEF'") from None


@dataclass
class Exposure:
    """What drizzling needs of one exposure; images in MJy/sr (variances in (MJy/sr)^2).

    ``sky`` is a background level to subtract (0 when none is known or it was already subtracted);
    ``exptime`` in seconds.
    """

    data: np.ndarray
    dq: np.ndarray
    var_poisson: np.ndarray
    var_rnoise: np.ndarray
    var_flat: np.ndarray
    wcs: object
    exptime: float
    sky: float = 0.0

    @classmethod
    def from_lean(cls, lean, *, sky_level=None, outliers=None):
        """From a :class:`~image3.fits_read.LeanExposure` with SCI, DQ and the three variances
        (no WCS: pass the pixel map to :meth:`Mosaic.add`). ``sky_level`` (MJy/sr): the
        exposure's sky (skymatch's level), of which what is still in SCI gets subtracted; None:
        a level the file records but has not subtracted. ``outliers``: a boolean mask of the
        outlier step's flags, added to DQ as OUTLIER and DO_NOT_USE."""
        a = lean.arrays
        sky = lean.unsubtracted_sky if sky_level is None else lean.remaining_sky(sky_level)
        return cls(
            data=a["sci"],
            dq=a["dq"] if outliers is None else with_outliers(a["dq"], outliers),
            var_poisson=a["var_poisson"],
            var_rnoise=a["var_rnoise"],
            var_flat=a["var_flat"],
            wcs=None,
            exptime=lean.exptime,
            sky=sky,
        )

    @classmethod
    def from_model(cls, model):
        """From a level-2b ImageModel; subtracts ``meta.background.level`` unless already done."""
        bkg = model.meta.background
        sky = bkg.level if (bkg.level is not None and not bkg.subtracted) else 0.0
        exptime = model.meta.exposure.measurement_time or model.meta.exposure.exposure_time
        return cls(
            data=model.data,
            dq=model.dq,
            var_poisson=model.var_poisson,
            var_rnoise=model.var_rnoise,
            var_flat=model.var_flat,
            wcs=model.meta.wcs,
            exptime=float(exptime or 1.0),
            sky=float(sky),
        )


def weight_map(exposure: Exposure, settings: DrizzleSettings) -> np.ndarray:
    """Per-pixel drizzle weight: 1/VAR_RNOISE (``ivm``) or the exposure time; 0 for bad pixels."""
    good = good_pixels(exposure.dq, settings.good_bits, "resample.good_bits")
    good &= np.isfinite(exposure.data)
    if settings.weight_type == "ivm":
        var = exposure.var_rnoise
        good &= np.isfinite(var) & (var > 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            weight = np.where(good, 1.0 / var, 0.0)
    else:
        weight = np.where(good, exposure.exptime, 0.0)
    return weight.astype(np.float32)


class Mosaic:
    """Accumulates exposures drizzled onto ``grid``: science, weight, context and variances."""

    def __init__(self, grid, settings: DrizzleSettings, n_inputs: int):
        from drizzle.resample import Drizzle

        self.grid = grid
        self.settings = settings
        fill = settings.fillval
        self._driz = Drizzle(
            kernel=settings.kernel,
            fillval=fill,
            fillval2=fill,
            out_shape=grid.shape,
            max_ctx_id=max(n_inputs - 1, 0),
        )
        self.exptime = 0.0
        self.n_added = 0

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
        data = np.nan_to_num(exposure.data - exposure.sky, nan=0.0, posinf=0.0, neginf=0.0)
        variances = [np.nan_to_num(getattr(exposure, v), nan=0.0, posinf=0.0) for v in VARIANCES]
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

    def arrays(self) -> dict:
        """Output arrays: data, err, wht, con and the three variances.

        Pixels without positive total weight (nothing landed, or lanczos' negative lobes cancelled
        it) get ``fillval`` in data and NaN in the errors.
        """
        wht = self._driz.out_wht
        empty = wht <= 0
        data = np.where(empty, _fill_value(self.settings.fillval), self._driz.out_img).astype(np.float32)
        out = {"data": data, "wht": wht, "con": self._driz.out_ctx}
        for name, var in zip(VARIANCES, self._driz.out_img2, strict=True):
            out[name] = np.where(empty, np.nan, var).astype(np.float32)
        out["err"] = np.sqrt(sum(out[v] for v in VARIANCES)).astype(np.float32)
        return out


def _fill_value(fillval) -> float:
    """``fillval`` as a number: "NaN" and "INDEF" (official spellings) are NaN."""
    if isinstance(fillval, str) and fillval.strip().upper() in ("NAN", "INDEF"):
        return np.nan
    return float(fillval)


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
