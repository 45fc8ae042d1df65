"""A NIRCam-like imaging simulator that writes official level-2b files and knows the truth.

The truth (injected pointing errors, sky levels, cosmic rays, sources and the real-sky artefacts)
is what the tests hold the pipeline against.

Re-exports its modules' public names (their ``__all__``), each imported on first use
(:mod:`image3._lazy`).
"""

from .._lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    (
        "artefacts",
        "dataset",
        "demo",
        "detector",
        "exposure",
        "instruments",
        "observation",
        "psf",
        "qa",
        "reference_files",
        "scene",
    ),
)
