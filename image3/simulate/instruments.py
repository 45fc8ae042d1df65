"""Real focal-plane geometry from the SIAF (``pysiaf``): the instruments and detectors the demo can
simulate, each detector's distortion, V2/V3 reference and the pixels a cut-down detector keeps.

Conventions: SIAF science pixels are 1-based (``XSciRef``), ours 0-based; V2/V3 and ideal
coordinates in arcsec; angles in degrees. Only the simulator imports this module (``pysiaf`` is a
simulator dependency; the pipeline reads the geometry from the files).
"""

import functools
from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from ..wcs.jwst_wcs import SiafDistortion
from .demo import DETECTORS

__all__ = [
    "INSTRUMENTS",
    "DetectorGeometry",
    "Instrument",
    "detector_geometry",
    "instrument",
    "non_science_regions",
    "reference_pixels",
    "reference_point",
]


@dataclass(frozen=True)
class Instrument:
    """One imaging mode: the SIAF to read, its detectors and the file metadata they share.

    ``channel`` as ``meta.instrument`` holds it (None: not set); ``detectors`` those of
    ``demo.DETECTORS``; the mode's filters are ``demo.FILTERS``. ``readpatt`` is the readout
    pattern the demo's files say they were read with (one frame per group, no skipped frames) and
    ``frame_time`` its full-frame frame time (s; a cut-down detector keeps it).
    """

    name: str
    siaf: str
    exp_type: str
    detectors: tuple
    pupil: str | None
    channel: str | None
    readpatt: str = "RAPID"
    frame_time: float = 10.73676


INSTRUMENTS = {
    "nircam_sw": Instrument(
        name="NIRCAM",
        siaf="NIRCam",
        exp_type="NRC_IMAGE",
        detectors=DETECTORS["nircam_sw"],
        pupil="CLEAR",
        channel="SHORT",
    ),
    "nircam_lw": Instrument(
        name="NIRCAM",
        siaf="NIRCam",
        exp_type="NRC_IMAGE",
        detectors=DETECTORS["nircam_lw"],
        pupil="CLEAR",
        channel="LONG",
    ),
    "miri": Instrument(
        name="MIRI",
        siaf="MIRI",
        exp_type="MIR_IMAGE",
        detectors=DETECTORS["miri"],
        pupil=None,
        channel=None,
        readpatt="FASTR1",
        frame_time=2.77504,
    ),
}
# Full-frame SIAF apertures of the detectors whose name is not <detector>_FULL.
FULL_FRAME_APERTURES = {"NRCALONG": "NRCA5_FULL", "NRCBLONG": "NRCB5_FULL", "MIRIMAGE": "MIRIM_FULL"}
REFERENCE_BORDER = 4  # reference pixels along the full frame's edges
# MIRI's coronagraph apertures (the three four-quadrant phase masks and the Lyot spot): inside the
# non-imaging region left of the imager's field, and brighter still than the rest of it.
MIRI_CORONAGRAPHS = ("MIRIM_CORON1065", "MIRIM_CORON1140", "MIRIM_CORON1550", "MIRIM_CORONLYOT")


def instrument(key: str) -> Instrument:
    """The imaging mode ``simulate.instrument`` names (``nircam_sw``, ``nircam_lw``, ``miri``)."""
    if key not in INSTRUMENTS:
        raise InputError(f"simulate.instrument = {key!r}: choose one of {', '.join(INSTRUMENTS)}")
    return INSTRUMENTS[key]


@dataclass(frozen=True)
class DetectorGeometry:
    """One detector as the simulator renders it: its SIAF distortion (for a cut-down detector, of
    the pixels it keeps), V2/V3 reference (arcsec), V3 angle of the ideal Y axis (deg), parity,
    the full frame's shape and the kept pixels' first pixel (``xstart``, ``ystart``, 1-based, as
    ``meta.subarray``) and shape (ny, nx)."""

    detector: str
    aperture: str
    distortion: SiafDistortion
    v2_ref: float
    v3_ref: float
    v3yangle: float
    vparity: int
    full_shape: tuple
    start: tuple
    shape: tuple

    @property
    def is_full_frame(self) -> bool:
        """Whether all of the detector's pixels are kept."""
        return tuple(self.shape) == tuple(self.full_shape)


@functools.cache
def _siaf(name):
    import pysiaf

    return pysiaf.Siaf(name)


def _terms(coeffs, degree):
    """SIAF coefficients (k over i = 0..degree, j = 0..i for x**(i-j) y**j) as (i, j, c) terms."""
    powers = [(i - j, j) for i in range(degree + 1) for j in range(i + 1)]
    return tuple((px, py, float(c)) for (px, py), c in zip(powers, coeffs, strict=True) if c != 0.0)


def _aperture(mode: Instrument, detector: str):
    if detector not in mode.detectors:
        raise InputError(
            f"simulate.detectors: {detector!r} is not a {mode.name} detector of this mode "
            f"(choose from {', '.join(mode.detectors)})"
        )
    return _siaf(mode.siaf)[FULL_FRAME_APERTURES.get(detector, f"{detector}_FULL")]


def _cut_start(aperture, full_shape, shape, towards):
    """First pixel (1-based xstart, ystart) of a ``shape`` cut of the full frame: the corner whose
    V2/V3 lies nearest ``towards`` (arcsec; None: centred on the reference pixel)."""
    ny, nx = full_shape
    if towards is None:
        x0 = int(round(aperture.XSciRef - 0.5 - shape[1] / 2))
        y0 = int(round(aperture.YSciRef - 0.5 - shape[0] / 2))
        return (int(np.clip(x0, 0, nx - shape[1])) + 1, int(np.clip(y0, 0, ny - shape[0])) + 1)
    corners = [(x, y) for x in (1, nx) for y in (1, ny)]
    v2, v3 = aperture.sci_to_tel(*np.array(corners, float).T)
    cx, cy = corners[int(np.argmin(np.hypot(v2 - towards[0], v3 - towards[1])))]
    return (1 if cx == 1 else nx - shape[1] + 1, 1 if cy == 1 else ny - shape[0] + 1)


def detector_geometry(key: str, detector: str, shape=None, towards=None, *, start=None) -> DetectorGeometry:
    """A detector of mode ``key`` from the SIAF; ``shape`` (ny, nx) None keeps the full frame, else a
    cut-down detector of that many pixels (``meta.subarray`` GENERIC) at the corner nearest V2/V3
    ``towards`` (the middle of all detectors of an exposure; None: around the reference pixel), or
    from ``start`` (1-based xstart, ystart) when given."""
    mode = instrument(key)
    ap = _aperture(mode, detector)
    full = (int(ap.YSciSize), int(ap.XSciSize))
    shape = full if shape is None else (int(shape[0]), int(shape[1]))
    if shape[0] > full[0] or shape[1] > full[1]:
        raise InputError(f"simulate.shape = {list(shape)} is larger than {detector}'s {list(full)} pixels")
    if start is None:
        start = (1, 1) if shape == full else _cut_start(ap, full, shape, towards)
    start = (int(start[0]), int(start[1]))
    c = ap.get_polynomial_coefficients()
    deg = int(ap.Sci2IdlDeg)
    distortion = SiafDistortion(
        pixel_scale=float(np.sqrt(ap.XSciScale * ap.YSciScale)),
        x_sci_ref=float(ap.XSciRef),
        y_sci_ref=float(ap.YSciRef),
        sci2idl_x=_terms(c["Sci2IdlX"], deg),
        sci2idl_y=_terms(c["Sci2IdlY"], deg),
        origin=(start[0] - 1, start[1] - 1),
    )
    return DetectorGeometry(
        detector=detector,
        aperture=ap.AperName,
        distortion=distortion,
        v2_ref=float(ap.V2Ref),
        v3_ref=float(ap.V3Ref),
        v3yangle=float(ap.V3IdlYAngle),
        vparity=int(ap.VIdlParity),
        full_shape=full,
        start=start,
        shape=shape,
    )


def reference_point(key: str, detectors) -> tuple:
    """V2/V3 (arcsec) of the middle of ``detectors``' reference points: the exposure's pointing
    reference, at which the demo's pointings (and their errors) are defined."""
    mode = instrument(key)
    refs = np.array([(a.V2Ref, a.V3Ref) for a in (_aperture(mode, d) for d in detectors)])
    return tuple(float(v) for v in refs.mean(axis=0))


def _full_frame_pixels(geometry: DetectorGeometry):
    """1-based full-frame science pixel coordinates (x, y) of the kept pixels."""
    ny, nx = geometry.shape
    y, x = np.mgrid[0:ny, 0:nx]
    return x + geometry.start[0], y + geometry.start[1]


def reference_pixels(geometry: DetectorGeometry) -> np.ndarray:
    """Boolean map of the kept pixels that are reference pixels (REFERENCE_PIXEL in DQ): NIRCam's
    4-pixel border of the full frame, MIRI's 4 columns at either side."""
    x, y = _full_frame_pixels(geometry)
    fy, fx = geometry.full_shape
    border = (x <= REFERENCE_BORDER) | (x > fx - REFERENCE_BORDER)
    if geometry.detector != "MIRIMAGE":
        border |= (y <= REFERENCE_BORDER) | (y > fy - REFERENCE_BORDER)
    return border


def non_science_regions(geometry: DetectorGeometry):
    """Boolean maps (the kept pixels' shape) of MIRI's non-imaging pixels: ``non_science`` (left of
    the imager's illuminated field, MIRIM_ILLUM: the coronagraphs, the Lyot spot and the LRS) and
    ``coronagraph`` (inside the four coronagraph apertures); all False for other detectors."""
    x, y = _full_frame_pixels(geometry)
    if geometry.detector != "MIRIMAGE":
        return np.zeros(x.shape, bool), np.zeros(x.shape, bool)
    siaf = _siaf("MIRI")
    illum = siaf["MIRIM_ILLUM"]
    left = illum.XDetRef - illum.XSciRef + 0.5  # the illuminated field's first column (1-based)
    coronagraph = np.zeros(x.shape, bool)
    for name in MIRI_CORONAGRAPHS:
        cx, cy = siaf[name].corners("det")  # MIRI's detector and science frames coincide
        coronagraph |= (x >= cx.min()) & (x <= cx.max()) & (y >= cy.min()) & (y <= cy.max())
    return (x < left) | coronagraph, coronagraph
