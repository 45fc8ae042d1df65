"""Process-wide settings of the libraries every job wants before it reads its first file, made by
each job (image3.jobs) and by the warm job server before it forks jobs (image3.job_server).
"""

import sys
from types import SimpleNamespace

__all__ = ["prepare_libraries"]


def _parse_asdf_manifests_with_libyaml():
    """Have asdf parse its extension manifests with PyYAML's C loader.

    On its first file a process loads about 50 manifests of the installed ASDF extensions with
    ``yaml.safe_load``, PyYAML's pure-Python parser: about half of that first open, a few tenths
    of a second in every job that reads a WCS set or a datamodel. The C parser (libyaml, when
    PyYAML has it) reads the same plain YAML into the same objects. Only asdf's manifest module is
    given the faster loader; if its layout changes, nothing is changed. Jobs that have not imported
    asdf are left alone (importing it would cost more than it saves).
    """
    if "asdf" not in sys.modules:
        return
    try:
        import yaml
        from asdf.extension import _manifest
    except ImportError:
        return
    if getattr(yaml, "__with_libyaml__", False) and getattr(_manifest, "yaml", None) is yaml:
        _manifest.yaml = SimpleNamespace(safe_load=lambda stream: yaml.load(stream, Loader=yaml.CSafeLoader))


def prepare_libraries():
    """Process-wide settings every job wants before it reads its first file."""
    _parse_asdf_manifests_with_libyaml()
