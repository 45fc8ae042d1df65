"""The real-sky demo's QA figure: one simulated exposure with the truth of its artefacts."""

import numpy as np
from astropy.io import fits
from astropy.visualization import AsinhStretch, ImageNormalize, ZScaleInterval

from .._plotting import fixed_margins, plt

__all__ = ["plot_artefacts"]


def plot_artefacts(cal_path, artefacts_path, png_path):
    """Artefacts' QA of one exposure: its SCI (asinh) with the pixels lost to saturation in red;
    the truth's diffraction spikes and halo (log scale, MJy/sr); the 1/f row offsets of each
    amplifier (MJy/sr); the gradient and wisp (MJy/sr). Panels of artefacts not simulated say so.

    ``cal_path``: the exposure's ``_cal.fits``; ``artefacts_path``: its ``_artefacts.fits`` truth
    (``dataset.write_artefact_truth``). Pixels are 0-based detector pixels.
    """
    with fits.open(cal_path) as hdul:
        sci = hdul["SCI"].data.astype(float)
        name = hdul[0].header.get("FILENAME", "")
    with fits.open(artefacts_path) as hdul:
        truth = {hdu.name.lower(): hdu.data for hdu in hdul[1:]}
    fig, axes = plt.subplots(1, 4, figsize=(20, 5.4))
    finite = np.isfinite(sci)
    norm = ImageNormalize(sci[finite], interval=ZScaleInterval(), stretch=AsinhStretch(0.1))
    axes[0].imshow(np.where(finite, sci, np.nan), origin="lower", cmap="gray", norm=norm)
    lost = truth.get("saturated", np.zeros(sci.shape, np.uint8)).astype(bool)
    ys, xs = np.nonzero(lost)
    axes[0].plot(xs, ys, "r.", markersize=2, label=f"saturated: {lost.sum()} pixels (NaN)")
    axes[0].legend(loc="upper right", fontsize=8, framealpha=0.8)
    axes[0].set_title(name)
    _image_panel(axes[1], truth.get("wings"), "spikes and halo (truth, log10 MJy/sr)", log=True)
    stripes = truth.get("one_over_f")
    if stripes is None:
        _absent(axes[2], "1/f striping not simulated")
    else:
        rows = np.arange(stripes.shape[0])
        for a in range(stripes.shape[1]):
            axes[2].plot(stripes[:, a] * 1e3, rows, lw=0.6, label=f"amplifier {a + 1}")
        axes[2].set_xlabel("row offset (mJy/sr)")
        axes[2].set_ylabel("row (detector y)")
        axes[2].legend(loc="upper right", fontsize=8, framealpha=0.8)
        axes[2].set_title("1/f striping (truth)")
    parts = [truth[k] for k in ("gradient", "wisp") if k in truth]
    structure = np.sum(parts, axis=0) * 1e3 if parts else None
    _image_panel(axes[3], structure, "gradient + wisp (truth, mJy/sr)")
    for ax in axes[[0, 1, 3]]:
        ax.set_xlabel("x (pixel)")
        ax.set_ylabel("y (pixel)")
    fixed_margins(fig, left=0.6, right=0.3, wspace=0.35)
    fig.savefig(png_path, dpi=80)
    plt.close(fig)


def _image_panel(ax, image, title, log=False):
    """``image`` on ``ax`` with a colour bar, or a note that it was not simulated."""
    if image is None:
        _absent(ax, title.split(" (")[0] + " not simulated")
        return
    shown = np.log10(np.clip(image, 1e-4, None)) if log else image
    im = ax.imshow(shown, origin="lower", cmap="magma" if log else "coolwarm")
    plt.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    ax.set_title(title)


def _absent(ax, text):
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes)
    ax.set_axis_off()
