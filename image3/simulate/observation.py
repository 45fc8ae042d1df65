"""The demo observation: file names, the dither pattern and the injected pointing errors.

File names follow the official scheme, so they are a function of the config alone and the workflow
knows every exposure before the simulator has run.
"""

from dataclasses import asdict, dataclass, fields, replace

import numpy as np
from astropy import units as u
from astropy.coordinates import SkyCoord

from ..errors import InputError
from ..wcs.jwst_wcs import Distortion, Pointing, imaging_wcs, v2v3_to_sky, velocity_aberration
from .demo import START_MJD

__all__ = ["ExposurePointing", "make_pointings", "mosaic_offsets", "start_times"]


@dataclass(frozen=True)
class ExposurePointing:
    """Nominal (what the file's WCS claims) and true pointing of one exposure.

    ``error_east``/``error_north`` are the true reference position minus the nominal one in arcsec on
    the sky; ``error_roll`` the true minus nominal roll in degrees.
    """

    name: str
    nominal: Pointing
    true: Pointing
    error_east: float
    error_north: float
    error_roll: float

    def to_dict(self):
        d = asdict(self)
        d["nominal"], d["true"] = asdict(self.nominal), asdict(self.true)
        return d

    @classmethod
    def from_dict(cls, d):
        """From :meth:`to_dict`'s form; other keys of ``d`` (a truth entry's sky level, ...) are ignored."""
        known = {f.name for f in fields(cls)}
        d = {k: v for k, v in d.items() if k in known}
        return cls(**{**d, "nominal": Pointing(**d["nominal"]), "true": Pointing(**d["true"])})

    def on_detector(self, name, geometry):
        """The pointing of one detector's file ``name`` (see :func:`_detector_pointing`) for this
        exposure's pointing at its reference point: nominal, true and the error alike."""
        return replace(
            self,
            name=name,
            nominal=_detector_pointing(self.nominal, geometry),
            true=_detector_pointing(self.true, geometry),
        )

    def moved_by(self, position_angle, distance_arcsec):
        """The same pointing with nominal and true reference points moved on the sky by
        ``distance_arcsec`` towards ``position_angle`` (deg east of north): a telescope tracking a
        moving target."""
        return replace(
            self,
            nominal=_moved(self.nominal, position_angle, distance_arcsec),
            true=_moved(self.true, position_angle, distance_arcsec),
        )


def _detector_pointing(pointing: Pointing, geometry) -> Pointing:
    """The ``meta.wcsinfo`` pointing of a detector (``geometry``: its V2/V3 reference, V3 angle and
    parity, e.g. an ``instruments.DetectorGeometry``) when the telescope's attitude is ``pointing``:
    ``ra_ref``/``dec_ref`` where the attitude puts the detector's V2/V3 reference and ``roll_ref``
    the position angle of V3 there (deg), as MAST files carry them, so every detector's WCS is the
    same attitude."""
    to_sky = v2v3_to_sky(pointing)
    v2, v3 = geometry.v2_ref, geometry.v3_ref
    ra, dec = to_sky(np.full(2, v2), v3 + np.array([0.0, 1.0]))
    # the V3 axis through the reference is a great circle (a meridian of the V2/V3 sphere)
    points = SkyCoord(ra, dec, unit="deg")
    roll = points[0].position_angle(points[1]).deg
    return replace(
        pointing,
        ra_ref=float(ra[0]),
        dec_ref=float(dec[0]),
        roll_ref=float(roll),
        v2_ref=v2,
        v3_ref=v3,
        v3yangle=geometry.v3yangle,
        vparity=geometry.vparity,
    )


def _moved(pointing: Pointing, position_angle, distance_arcsec) -> Pointing:
    c = SkyCoord(pointing.ra_ref, pointing.dec_ref, unit="deg")
    c = c.directional_offset_by(position_angle * u.deg, distance_arcsec * u.arcsec)
    return replace(pointing, ra_ref=float(c.ra.deg), dec_ref=float(c.dec.deg))


def start_times(n_exposures: int, interval_s: float) -> np.ndarray:
    """Exposure start times (MJD, UTC): from 2026-11-24T00:00 every ``interval_s`` seconds."""
    return START_MJD + np.arange(n_exposures) * interval_s / 86400.0


def _dither_offsets(n_exposures: int, field_arcsec: float, spread: float) -> np.ndarray:
    """Ideal-frame offsets (arcsec) on a golden-angle spiral out to ``spread * field_arcsec``.

    The first exposure is at the origin; the spiral makes the coverage step from n in the middle to
    1 at the edges.
    """
    k = np.arange(n_exposures)
    radius = spread * field_arcsec * np.sqrt(k / max(n_exposures - 1, 1))
    angle = k * np.pi * (3 - np.sqrt(5))
    return np.column_stack([radius * np.cos(angle), radius * np.sin(angle)])


def mosaic_offsets(mosaic, overlap, shape, pixel_scale) -> np.ndarray:
    """Tile centres (arcsec along the detector's x and y axes) of an ``[ncols, nrows]`` mosaic.

    Neighbouring tiles share ``overlap`` (a fraction) of the detector's width or height; the grid is
    centred on the origin. Tiles run along x first (row by row). ``mosaic`` None: one tile at 0.
    """
    if mosaic is None:
        return np.zeros((1, 2))
    ncols, nrows = mosaic
    step = (1.0 - overlap) * pixel_scale * np.array([shape[1], shape[0]], float)
    col, row = np.meshgrid(np.arange(ncols) - (ncols - 1) / 2, np.arange(nrows) - (nrows - 1) / 2)
    return np.column_stack([col.ravel(), row.ravel()]) * step


def _tile_pointings(wcs, shape, tiles, reference: Pointing) -> list[Pointing]:
    """Nominal pointings whose chip centres lie ``tiles`` (arcsec along the detector's axes) from
    the chip centre of ``wcs``, laid out in the sky tangent plane at that centre (no distortion:
    a mosaic's tiles are far outside the chip, where the distortion polynomial means nothing)."""
    cx, cy = (shape[1] - 1) / 2, (shape[0] - 1) / 2
    ra, dec = wcs(np.array([cx, cx + 1.0, cx]), np.array([cy, cy, cy + 1.0]), with_bounding_box=False)
    centre = SkyCoord(ra[0], dec[0], unit="deg")
    plane = centre.skyoffset_frame()
    steps = SkyCoord(ra[1:], dec[1:], unit="deg").transform_to(plane)
    # columns: tangent-plane (lon, lat) offset in arcsec of one pixel along detector x and y
    per_pixel = np.array([steps.lon.arcsec, steps.lat.arcsec])
    per_arcsec = per_pixel / np.hypot(*per_pixel)
    lon, lat = per_arcsec @ tiles.T
    sky = SkyCoord(lon * u.arcsec, lat * u.arcsec, frame=plane).icrs
    return [replace(reference, ra_ref=float(c.ra.deg), dec_ref=float(c.dec.deg)) for c in sky]


def make_pointings(
    rng,
    names,
    shape,
    ra0,
    dec0,
    roll,
    dither_spread,
    shift_range,
    max_roll_error,
    mosaic=None,
    mosaic_overlap=0.15,
    *,
    aperture: Pointing | None = None,
    distortion: Distortion | None = None,
):
    """Nominal dithered pointings and true pointings off by a random shift and roll each.

    ``shift_range`` (arcsec) bounds the size of the injected shift, ``max_roll_error`` (deg) its roll.
    With ``mosaic = [ncols, nrows]`` the pointings are tiles on that grid, neighbours overlapping by
    ``mosaic_overlap`` of the detector, centred on (``ra0``, ``dec0``); each tile holds
    ``len(names) / (ncols * nrows)`` consecutive exposures on the dither spiral (``dither_spread``)
    around its centre. Without a mosaic, one tile at (``ra0``, ``dec0``).

    The pointings are those of ``aperture`` (its V2/V3 reference, V3 angle and parity; its sky
    position is ignored), a chip of ``shape`` with ``distortion`` whose centre is that reference:
    by default (None) the synthetic NIRCam-like detector; for several detectors a distortion-free
    chip of one detector's size at their middle (see ``dataset.plan``).
    """
    aperture = aperture or Pointing(0.0, 0.0, 0.0)
    distortion = distortion or Distortion()
    reference = replace(aperture, ra_ref=ra0, dec_ref=dec0, roll_ref=roll)
    base = imaging_wcs(shape, reference, distortion)
    tiles = mosaic_offsets(mosaic, mosaic_overlap, shape, distortion.pixel_scale)
    if len(names) % len(tiles):
        raise InputError(
            f"simulate: n_exposures = {len(names)} is not a multiple of the {len(tiles)} mosaic tiles"
        )
    per_tile = len(names) // len(tiles)
    offsets = _dither_offsets(per_tile, distortion.pixel_scale * max(shape), dither_spread)
    # V2/V3 -> sky of each tile's pointing (the detector -> V2/V3 part is the same for all)
    if mosaic is None:
        to_sky = [base.get_transform("v2v3", "world")]
    else:
        to_sky = [
            velocity_aberration(c) | v2v3_to_sky(c) for c in _tile_pointings(base, shape, tiles, reference)
        ]
    to_v2v3 = base.get_transform("detector", "v2v3")
    result = []
    for k, name in enumerate(names):
        dxi, deta = offsets[k % per_tile]
        v2, v3 = to_v2v3(
            (shape[1] - 1) / 2 + dxi / distortion.pixel_scale,
            (shape[0] - 1) / 2 + deta / distortion.pixel_scale,
        )
        ra, dec = to_sky[k // per_tile](v2, v3)
        nominal = replace(reference, ra_ref=float(ra), dec_ref=float(dec))
        size = rng.uniform(*shift_range)
        direction = rng.uniform(0.0, 360.0)
        droll = rng.uniform(-max_roll_error, max_roll_error)
        true_pos = SkyCoord(ra, dec, unit="deg").directional_offset_by(direction * u.deg, size * u.arcsec)
        true = replace(
            nominal, ra_ref=float(true_pos.ra.deg), dec_ref=float(true_pos.dec.deg), roll_ref=roll + droll
        )
        result.append(
            ExposurePointing(
                name=name,
                nominal=nominal,
                true=true,
                error_east=float(size * np.sin(np.deg2rad(direction))),
                error_north=float(size * np.cos(np.deg2rad(direction))),
                error_roll=float(droll),
            )
        )
    return result
