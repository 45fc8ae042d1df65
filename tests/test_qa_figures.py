"""The QA figures that draw sky axes (the mosaic preview, qa/<product>_i2d.png, and the catalog
figure, qa/<product>_cat.png) on rotated mosaics: each axis label names the coordinate whose tick
labels run along that edge, and the ticks carry the file's coordinates at the pixels shown.

Before: the labels were given to the horizontal and vertical axes, so on a grid rotated by more
than 45 degrees (WCSAxes then puts RA's tick labels on the vertical edge) the vertical axis read
"Dec" over right ascensions; and a mosaic shown every ``step``-th pixel was drawn on the sliced
astropy WCS, which for a CD-matrix header (ours) keeps the full pixel scale, so the ticks' offsets
from the reference pixel were ``step`` times too small (0.93 arcsec off at 40 pixels from it with
the step of 4 here; the real-sky demo's 1261 x 1463 mosaic is shown with a step of 2) and the
catalog's circles landed on the wrong sky positions. With the old code all four tests fail.
"""

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS

from image3._plotting import SKY_LABELS, plt
from image3.resample.qa import plot_mosaic
from image3.source_catalog.qa import plot_catalog

SHAPE = (160, 200)  # ny, nx
STEP = 4  # the figures show every 4th pixel (max_side below)
SCALE = 0.031 / 3600  # deg per pixel


def _write_i2d(path, rotation_deg):
    """A small _i2d-like file: SCI with a TAN WCS (CD matrix, as ours) rotated by ``rotation_deg``
    (the grid's +y axis ``rotation_deg`` east of north), CON, FILENAME."""
    t = np.radians(rotation_deg)
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [53.16, -27.8]
    wcs.wcs.crpix = [SHAPE[1] / 2, SHAPE[0] / 2]
    wcs.wcs.cd = SCALE * np.array([[-np.cos(t), np.sin(t)], [np.sin(t), np.cos(t)]])
    rng = np.random.default_rng(1)
    sci = fits.ImageHDU(rng.normal(0, 1, SHAPE).astype(np.float32), wcs.to_header(), name="SCI")
    con = fits.ImageHDU(np.ones((1, *SHAPE), np.int32), name="CON")
    fits.HDUList([fits.PrimaryHDU(header=fits.Header({"FILENAME": path.name})), sci, con]).writeto(path)
    return wcs


def _write_catalog(path, wcs):
    """Sources spread over the grid, with the catalog's columns the figure reads."""
    x, y = np.meshgrid(np.linspace(10, SHAPE[1] - 10, 5), np.linspace(10, SHAPE[0] - 10, 4))
    x, y = x.ravel(), y.ravel()
    n = len(x)
    table = Table(
        {
            "xcentroid": x,
            "ycentroid": y,
            "is_extended": np.arange(n) % 2 == 0,
            "flags": np.zeros(n, int),
            "aper_total_abmag": np.linspace(20, 25, n),
            "isophotal_abmag": np.linspace(20, 25, n),
        }
    )
    table.write(path, format="ascii.ecsv")
    return np.column_stack(wcs.pixel_to_world_values(x, y))


def _drawn(monkeypatch, draw):
    """The figures ``draw()`` makes (kept from plt.close), drawn."""
    figures = []
    monkeypatch.setattr(plt, "close", figures.append)
    draw()
    return figures


def _sky_axes(figure):
    return [ax for ax in figure.axes if hasattr(ax, "coords")]


def _check_labels(ax):
    """Each coordinate is labelled with its own name, on an edge where its tick labels are."""
    names = {}
    for coord in ax.coords:
        label = coord.get_axislabel()
        assert label == SKY_LABELS[coord.coord_type], (coord.default_label, label)
        ticks = {side for side, texts in coord._ticklabels.text.items() if texts}
        ticks &= set(coord.get_ticklabel_position())
        label_sides = set(coord.get_axislabel_position()) - {"#"}
        assert ticks, f"no tick labels drawn for {label}"
        assert label_sides and label_sides <= ticks, (label, label_sides, ticks)
        names[label] = ticks
    assert set(names) == {"RA", "Dec"}


def _check_image_coordinates(ax, wcs):
    """The pixels shown sit where the axes' WCS puts the file's coordinates of those pixels."""
    image = ax.get_images()[0]
    x0, x1, y0, y1 = image.get_extent()
    ny, nx = image.get_array().shape
    j, i = np.array([0, ny - 1, ny // 2]), np.array([0, nx - 1, nx // 3])
    # the shown pixel (j, i) stands for the file's pixels j*STEP .. j*STEP+STEP-1: its centre
    cx, cy = x0 + (i + 0.5) * (x1 - x0) / nx, y0 + (j + 0.5) * (y1 - y0) / ny
    shown = np.column_stack(ax.wcs.pixel_to_world_values(cx, cy))
    truth = np.column_stack(wcs.pixel_to_world_values(i * STEP + (STEP - 1) / 2, j * STEP + (STEP - 1) / 2))
    assert np.allclose(shown, truth, atol=1e-3 * SCALE, rtol=0)


@pytest.mark.parametrize("rotation", [30.0, 120.0])
def test_mosaic_preview_axes_on_a_rotated_grid(tmp_path, monkeypatch, rotation):
    wcs = _write_i2d(tmp_path / "p_i2d.fits", rotation)
    (figure,) = _drawn(
        monkeypatch, lambda: plot_mosaic(tmp_path / "p_i2d.fits", tmp_path / "p.png", max_side=50)
    )
    panels = _sky_axes(figure)
    assert len(panels) == 2  # SCI and coverage
    for ax in panels:
        _check_labels(ax)
        _check_image_coordinates(ax, wcs)


@pytest.mark.parametrize("rotation", [30.0, 120.0])
def test_catalog_figure_axes_and_sources_on_a_rotated_grid(tmp_path, monkeypatch, rotation):
    wcs = _write_i2d(tmp_path / "p_i2d.fits", rotation)
    sky = _write_catalog(tmp_path / "p_cat.ecsv", wcs)
    (figure,) = _drawn(
        monkeypatch,
        lambda: plot_catalog(
            tmp_path / "p_i2d.fits", tmp_path / "p_cat.ecsv", tmp_path / "c.png", max_side=50
        ),
    )
    (ax,) = _sky_axes(figure)
    _check_labels(ax)
    _check_image_coordinates(ax, wcs)
    drawn = np.concatenate([c.get_offsets() for c in ax.collections if len(c.get_offsets())])
    world = np.column_stack(ax.wcs.pixel_to_world_values(drawn[:, 0], drawn[:, 1]))
    assert len(world) == len(sky)
    offsets = np.hypot(
        *(world[:, None, :] - sky[None, :, :]).transpose(2, 0, 1) * [[[np.cos(np.radians(-27.8))]], [[1]]]
    )
    assert np.all(offsets.min(axis=0) < 1e-3 * SCALE)  # each source circled at its own position
