"""NIRCam short-wave point spread function: a pixel-integrated Airy pattern per filter.

The PSF is the Airy pattern of a 6.5 m circular aperture at the filter's pivot wavelength, so F090W is
strongly undersampled (FWHM about 0.95 pixel at 0.0311 arcsec/pixel) and F200W has FWHM about 2.1
pixels. It is truncated at ``radius_lambda_d`` * lambda/D and normalised to 1 inside that radius, so a
star's injected flux is exactly its catalogue flux.
"""

import numpy as np
from scipy import ndimage, special

from ..utils.psf_width import lambda_over_d_pixels

__all__ = ["PixelIntegratedPSF"]


class PixelIntegratedPSF:
    """The Airy PSF integrated over square pixels, tabulated at ``oversample`` points per pixel.

    ``oversample`` must be odd so the pixel box is centred on its sample. ``stamp(dx, dy)`` gives the
    fraction of the flux of a star at sub-pixel offset (dx, dy) from the stamp's central pixel that
    falls in each pixel of a (2 * radius + 1)^2 stamp.
    """

    def __init__(self, filter_name, pixel_scale, oversample=9, radius_lambda_d=10.0):
        self.lambda_d = lambda_over_d_pixels(filter_name, pixel_scale)
        self.radius = max(6, int(np.ceil(radius_lambda_d * self.lambda_d)))
        self.oversample = oversample
        half = (self.radius + 2) * oversample
        offsets = np.arange(-half, half + 1) / oversample
        r = np.hypot(*np.meshgrid(offsets, offsets))
        v = np.pi * np.where(r == 0, 1e-12, r) / self.lambda_d
        airy = (2 * special.j1(v) / v) ** 2
        airy[r > radius_lambda_d * self.lambda_d] = 0.0
        # Integrate over one pixel: a box of `oversample` samples; the table's value at offset d is
        # the flux in a pixel whose centre lies d from the star.
        if oversample % 2 == 0:
            raise ValueError("oversample must be odd")
        self._airy = airy
        self._table = ndimage.uniform_filter(airy, size=oversample, mode="constant")
        self._centre = half

    def stamp(self, dx: float, dy: float) -> np.ndarray:
        """Flux fractions on the stamp grid for a star at (dx, dy) pixels from its centre pixel."""
        n = np.arange(-self.radius, self.radius + 1)
        gx, gy = np.meshgrid(n - dx, n - dy)
        coords = [gy * self.oversample + self._centre, gx * self.oversample + self._centre]
        values = ndimage.map_coordinates(self._table, coords, order=3, mode="constant")
        values = np.clip(values, 0.0, None)
        return values / values.sum()

    def kernel(self, oversample: int) -> np.ndarray:
        """The PSF (not pixel-integrated) sampled at ``oversample`` points per pixel, sum 1.

        ``oversample`` must divide the table's oversampling; the kernel is centred on its middle sample.
        """
        step = self.oversample // oversample
        if step * oversample != self.oversample:
            raise ValueError(f"oversample must divide {self.oversample}")
        c = self._centre
        half = (c // step) * step
        core = self._airy[c - half : c + half + 1 : step, c - half : c + half + 1 : step]
        return core / core.sum()
