"""Sky levels of a product's exposures from their files, as the official skymatch step: measured
(``measure_files``: each file read once, reduced to cells, image3.skymatch.cells; the levels from
the cells, image3.skymatch.levels; the statistics, image3.skymatch.statistics) or given by the user
(``user``: ``user_sky``). Levels in MJy/sr.
"""

import logging
from pathlib import Path

from ..errors import InputError
from ..io.dq import excluded_exposure
from ..io.exposure_groups import group_id
from ..io.fits_read import read_lean
from ..wcs.geometry import Geometry
from .cells import exposure_cells, sky_grid
from .levels import SkyResult, compute_sky
from .settings import SkySettings
from .suffix import name_root

__all__ = ["measure_files", "user_sky"]

log = logging.getLogger("image3")


def user_sky(skylist, names, key="skymatch.skylist", files=None) -> SkyResult:
    """Levels from a user file: one ``<exposure or file name> <level MJy/sr>`` pair per line.

    A name is an exposure name or a file name (any folder, ``.fits`` or not); it names the
    exposure whose name it is, else the one whose file name (``files``, in the order of ``names``;
    None: the exposure names) it equals once each has lost one known pipeline suffix
    (:func:`~image3.skymatch.suffix.name_root`: ``_cal``, ``_crf``, ``_skymatch``, ..., as the
    official step; an unknown ``_suffix`` stays). Blank lines and lines starting with ``#`` are
    skipped; a line naming no exposure of the product is ignored with a warning. Every exposure of
    ``names`` must appear exactly once.
    """
    path = Path(skylist)
    try:
        lines = path.read_text().splitlines()
    except OSError as err:
        raise InputError(f"{key} = {skylist!r}: cannot read it ({err.strerror})") from None
    exact = set(names)
    roots = {name_root(f): n for f, n in zip(files or names, names, strict=True)}
    levels = {}
    for number, line in enumerate(lines, 1):
        words = line.split()
        if not words or words[0].startswith("#"):
            continue
        try:
            listed, value = words[0], float(words[1])
        except (IndexError, ValueError):
            raise InputError(f"{path}, line {number}: expected '<exposure> <level>', got {line!r}") from None
        stem = Path(listed).name.removesuffix(".fits")
        name = stem if stem in exact else roots.get(name_root(listed))
        if name is None:
            log.warning("%s, line %d: %s is no exposure of this product; ignored", path, number, listed)
            continue
        if name in levels:
            raise InputError(f"{path}, line {number}: exposure {name} is listed twice")
        levels[name] = value
    missing = [n for n in names if n not in levels]
    if missing:
        raise InputError(f"{key} = {skylist!r} has no level for exposure(s) {', '.join(missing)}")
    return SkyResult("user", {n: levels[n] for n in names}, {n: n for n in names})


def measure_files(paths, names, s: SkySettings, geometries=None) -> SkyResult:
    """Levels of the level-2b files ``paths`` (exposures ``names``) by ``s.skymethod``.

    ``geometries`` is ``{exposure: Geometry}`` of the aligned WCS (the product's geometry file);
    None: each file's own WCS, sampled here. The headers are read first (groups, levels already
    subtracted, and the sky grid), then the data one file at a time, reduced to sky cells at once.
    """
    headers = [read_lean(path, ()) for path in paths]
    if geometries is None:
        geometries = {name: _own_geometry(path) for path, name in zip(paths, names, strict=True)}
    missing = [n for n in names if n not in geometries]
    if missing:
        raise InputError(f"no aligned WCS (geometry) for exposure(s) {', '.join(missing)}")
    grid = sky_grid([geometries[n] for n in names], s.cell_size)
    log.info("sky grid of %d x %d cells of %d pixels", grid.shape[1], grid.shape[0], s.cell_size)
    cells, excluded = [], {}
    for path, name, header in zip(paths, names, headers, strict=True):
        group = group_id(header.observation, name, group_exposures=s.group_exposures in (True, "auto"))
        level0 = _subtracted_level(header, path, s)
        lean = read_lean(path, ("SCI", "DQ"))
        if excluded_exposure(lean.arrays["sci"], lean.arrays["dq"], path):
            excluded[name] = level0  # no sky level: it records the level already subtracted
            continue
        cells.append(
            exposure_cells(
                name, group, lean.arrays["sci"], lean.arrays["dq"], geometries[name], grid, s, level0
            )
        )
        share = cells[-1].source.sum() / max(cells[-1].total.sum(), 1)
        log.info("%s: %d sky cells, %.1f%% of its pixels in sources", name, cells[-1].cells.size, 100 * share)
    if not cells:
        raise InputError(
            "no exposure of the product has a valid pixel (SCI all NaN or every pixel DO_NOT_USE): "
            + ", ".join(map(str, paths))
        )
    result = compute_sky(cells, s)
    if excluded:
        result.levels = {n: result.levels[n] if n in result.levels else excluded[n] for n in names}
        result.groups = {n: result.groups.get(n, n) for n in names}
    return result


def _own_geometry(path) -> Geometry:
    """The file's own WCS sampled (when no aligned WCS is given)."""
    from ..io.level2b import open_level2b

    with open_level2b(path) as model:
        return Geometry.from_wcs(model.meta.wcs, model.data.shape)


def _subtracted_level(header, path, s: SkySettings) -> float:
    """The level already subtracted from the file's data (``meta.background``; ``header`` a
    :class:`~image3.io.fits_read.LeanExposure`), 0 if none."""
    if not header.sky_subtracted:
        return 0.0
    if header.sky_level is None:
        raise InputError(f"{path}: meta.background.subtracted is set but meta.background.level is not")
    if not s.subtract:
        raise InputError(
            f"{path}: its sky ({header.sky_level} MJy/sr) was already subtracted from the data "
            "(meta.background.subtracted); set skymatch.subtract: true to measure and subtract the rest"
        )
    return float(header.sky_level)
