"""Small helpers shared by several steps: PSF widths from the filter, a fast background map, fast
morphology (dilations, 3x3 maxima, connected pixels above a threshold).

Re-exports its modules' public names (their ``__all__``), each imported on first use
(:mod:`image3._lazy`).
"""

from .._lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, ("background", "morphology", "psf_width"))
