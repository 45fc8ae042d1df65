"""Outlier detection's single images (the work files) and their median, in row sections of bounded
memory. astropy.io.fits and numpy alone: the median job needs nothing else."""

import numpy as np
from astropy.io import fits

__all__ = ["median_image", "read_median", "write_image_pair", "write_median"]


def write_image_pair(path, sci, wht):
    """A work file with SCI and WHT image extensions (uncompressed, so rows can be read lazily)."""
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(sci, name="SCI"), fits.ImageHDU(wht, name="WHT")]).writeto(
        path
    )


def median_image(single_paths, maskpt=0.7, max_memory_mb=1000.0):
    """Median of the single images, ignoring pixels with weight < maskpt x the image's typical one.

    Where exactly two images are valid, the lower value is taken instead (see below).
    The typical weight is the median of an image's positive weights. Rows are processed in sections
    sized so that the stacked sections take at most ``max_memory_mb`` whatever the number of
    images. Returns (median float32 with NaN where nothing is valid, count uint8 of valid images).
    """
    # Rows are read through ``section`` (no memory map), so only the current section is resident.
    hduls = [fits.open(p, memmap=False, lazy_load_hdus=True) for p in single_paths]
    try:
        ny, nx = hduls[0]["SCI"].shape
        n = len(hduls)
        limits = []
        for h in hduls:
            wht = h["WHT"].section
            sample = np.concatenate([wht[r : r + 1].ravel() for r in np.linspace(0, ny - 1, 64).astype(int)])
            positive = sample[sample > 0]
            limits.append(maskpt * (np.median(positive) if positive.size else np.inf))
        # A section's float32 stack, its validity mask and the copies np.nanmedian makes take about
        # ten times the stack itself; the interpreter and libraries about 250 MB (bench/median_memory.py).
        budget_mb = max(max_memory_mb - 250.0, 25.0)
        rows = max(1, int(budget_mb * 1e6 / (n * nx * 4 * 10)))
        median = np.full((ny, nx), np.nan, np.float32)
        count = np.zeros((ny, nx), np.uint8)
        for r0 in range(0, ny, rows):
            r1 = min(ny, r0 + rows)
            stack = np.empty((n, r1 - r0, nx), np.float32)
            for k, (h, limit) in enumerate(zip(hduls, limits, strict=True)):
                sci = h["SCI"].section[r0:r1]
                stack[k] = np.where(np.asarray(h["WHT"].section[r0:r1]) >= limit, sci, np.nan)
            valid = np.isfinite(stack)
            count[r0:r1] = valid.sum(axis=0)
            with np.errstate(all="ignore"):
                section = np.nanmedian(np.where(count[r0:r1] > 0, stack, 0.0), axis=0)
                # Where two images overlap their median is their mean, half of any cosmic ray;
                # the lower of the two (official nhigh=1) is free of it.
                median[r0:r1] = np.where(count[r0:r1] == 2, np.nanmin(stack, axis=0), section)
            median[r0:r1][count[r0:r1] == 0] = np.nan
        return median, count
    finally:
        for h in hduls:
            h.close()


def write_median(path, median, count):
    """The median work file: MEDIAN (float32, MJy/sr, NaN where nothing is valid) and COUNT (uint8)."""
    hdus = [fits.PrimaryHDU(), fits.ImageHDU(median, name="MEDIAN"), fits.ImageHDU(count, name="COUNT")]
    fits.HDUList(hdus).writeto(path)


def read_median(path):
    """(median, count) from a file of :func:`write_median`."""
    with fits.open(path) as hdul:
        return hdul["MEDIAN"].data, hdul["COUNT"].data
