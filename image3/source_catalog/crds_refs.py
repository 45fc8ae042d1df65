"""The source catalog's APCORR and ABVEGAOFFSET reference files from CRDS, as the official pipeline
picks them, when ``source_catalog.apcorr`` / ``abvegaoffset`` are not given.

Used when the workflow loads, so the file CRDS names is a rule input (a different answer reruns the
catalog). Only with ``CRDS_PATH`` set: then the ``crds`` client (the ``crds`` extra) is imported and
asked, with the context in use (``CRDS_CONTEXT``, else the cache's or the server's latest), for the
best references of the product's mosaic: the members' instrument, detector (``MULTIPLE`` when they
differ, as an official mosaic's header), filter, pupil, channel, exposure type and earliest start
date. Offline (``CRDS_SERVER_URL`` unset, CRDS's serverless mode) nothing touches the network; with
a server, crds fetches what the cache lacks. This module imports only the standard library.
"""

import contextlib
import io
import logging
import os
from dataclasses import dataclass

from ..errors import InputError

__all__ = ["REFTYPES", "CrdsReferences", "best_references", "crds_parameters"]

REFTYPES = ("apcorr", "abvegaoffset")
# Primary-header keyword -> the datamodel name CRDS selects by (the official rmaps: NIRCam's APCORR
# by META.EXPOSURE.TYPE, MIRI's also by META.INSTRUMENT.CHANNEL, both by date; the rest is sent as
# the official pipeline sends its whole metadata).
_PARAMETERS = {
    "INSTRUME": "META.INSTRUMENT.NAME",
    "DETECTOR": "META.INSTRUMENT.DETECTOR",
    "FILTER": "META.INSTRUMENT.FILTER",
    "PUPIL": "META.INSTRUMENT.PUPIL",
    "CHANNEL": "META.INSTRUMENT.CHANNEL",
    "EXP_TYPE": "META.EXPOSURE.TYPE",
    "DATE-OBS": "META.OBSERVATION.DATE",
    "TIME-OBS": "META.OBSERVATION.TIME",
}
_NO_CLIENT = "the crds client is not installed (pip install 'image3-workflow[crds]')"


@dataclass(frozen=True)
class CrdsReferences:
    """What CRDS answered for one product: the ``context`` (``.pmap``) used, ``files`` {reftype:
    path in the cache} it found and ``missing`` {reftype: why not} (no match, N/A, no client)."""

    context: str
    files: dict
    missing: dict

    def to_meta(self) -> dict:
        """The catalog's metadata: the context and each reference file's name (or why none)."""
        meta = {"crds_context": self.context or "none"}
        for reftype in REFTYPES:
            if reftype in self.files:
                meta[f"crds_{reftype}"] = os.path.basename(self.files[reftype])
            elif reftype in self.missing:
                meta[f"crds_{reftype}"] = f"none ({self.missing[reftype]})"
        return meta

    def summary(self, name) -> str:
        """One line for the log: which files from which context, and what falls back."""
        found = [f"{r} {self.files[r]}" for r in REFTYPES if r in self.files]
        fallback = [f"{r} falls back ({self.missing[r]})" for r in REFTYPES if r in self.missing]
        context = f"context {self.context}" if self.context else "no context"
        return f"source_catalog {name}: CRDS ({context}): {'; '.join(found + fallback)}"


def crds_parameters(headers) -> dict:
    """The CRDS matching parameters of a mosaic from its members' primary headers ({keyword:
    value} each): each keyword's value where the members agree (DETECTOR ``MULTIPLE`` where they
    differ), and the earliest DATE-OBS with its TIME-OBS. Keywords no member has are left out."""
    params = {}
    for key in ("INSTRUME", "DETECTOR", "FILTER", "PUPIL", "CHANNEL", "EXP_TYPE"):
        values = {str(h[key]).strip().upper() for h in headers if h.get(key) not in (None, "")}
        if len(values) == 1:
            params[_PARAMETERS[key]] = values.pop()
        elif len(values) > 1 and key == "DETECTOR":
            params[_PARAMETERS[key]] = "MULTIPLE"
    starts = sorted(
        (str(h["DATE-OBS"]).strip(), str(h.get("TIME-OBS") or "00:00:00").strip())
        for h in headers
        if h.get("DATE-OBS")
    )
    if starts:
        params[_PARAMETERS["DATE-OBS"]], params[_PARAMETERS["TIME-OBS"]] = starts[0]
    return params


def best_references(parameters, reftypes=REFTYPES) -> CrdsReferences | None:
    """CRDS's best ``reftypes`` for ``parameters`` (:func:`crds_parameters`), or None when
    ``CRDS_PATH`` is not set (CRDS not configured: nothing is imported).

    A reftype without a match (or N/A in the rules) is in ``missing``, as are all when the crds
    client is not installed; a cache that is configured but unusable (no such folder, no cached
    configuration, a context or reference file missing or corrupt) raises InputError naming
    CRDS_PATH and what is wrong.
    """
    path = os.environ.get("CRDS_PATH")
    if not path:
        return None
    try:
        import crds  # noqa: F401
    except ImportError:
        return CrdsReferences("", {}, dict.fromkeys(reftypes, _NO_CLIENT))
    if not os.path.isdir(path):
        raise InputError(f"CRDS_PATH = {path}: no such folder (unset CRDS_PATH to go without CRDS)")
    with _quiet_crds():
        context, connected = _context(path)
        files, missing = {}, {}
        for reftype in reftypes:
            found, why = _lookup(path, parameters, reftype, context, connected)
            if found:
                files[reftype] = found
            else:
                missing[reftype] = why
    return CrdsReferences(context, files, missing)


@contextlib.contextmanager
def _quiet_crds():
    """Silence the crds client's own console messages (its log and the tracebacks it prints):
    its answer is reported here, in one line."""
    crds_log = logging.getLogger("CRDS")
    level = crds_log.level
    crds_log.setLevel(logging.CRITICAL + 1)
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            yield
    finally:
        crds_log.setLevel(level)


def _broken(path, what) -> InputError:
    return InputError(f"CRDS_PATH = {path}: {what} (fix the cache, or unset CRDS_PATH to go without CRDS)")


# What the crds client raises on a cache it cannot use (SystemExit: it exits when neither a server
# nor the cache's config/jwst/server_config tells the context).
_CRDS_FAULTS = (OSError, ValueError, SyntaxError, AttributeError, KeyError, SystemExit)


def _context(path):
    """(the context in use: ``CRDS_CONTEXT``, else the cache's or server's latest; whether a server
    answers). Offline, the context must be in the cache."""
    from crds.core import config, heavy_client
    from crds.core.exceptions import CrdsError

    try:
        context = heavy_client.get_context_name("jwst")
        connected = bool(heavy_client.get_config_info("jwst").connected)
    except (CrdsError, *_CRDS_FAULTS) as err:
        what = _first_line(err) if not isinstance(err, SystemExit) else "no config/jwst/server_config"
        raise _broken(path, f"no CRDS configuration for jwst, and no server ({what})") from None
    if not connected and not os.path.isfile(config.locate_mapping(context, "jwst")):
        raise _broken(path, f"context {context} is not in the cache (mappings/jwst), and no server")
    return context, connected


def _lookup(path, parameters, reftype, context, connected):
    """(the cached path of the best ``reftype``, None), or (None, why there is none: no match or
    N/A in the rules). Offline the file must be in the cache; with a server, crds fetches it."""
    import crds
    from crds.core import config
    from crds.core import exceptions as crexc

    try:
        name = crds.getrecommendations(parameters, reftypes=[reftype], context=context, observatory="jwst")
        name = str(name.get(reftype, "N/A"))
        if name.upper().startswith("NOT FOUND"):
            return None, f"no match: {' '.join(name.split()[2:])}"
        if name.upper().startswith("N/A"):
            return None, f"N/A in {context}"
        if connected:
            return os.path.abspath(
                crds.getreferences(parameters, [reftype], context, observatory="jwst")[reftype]
            ), None
        found = config.locate_file(name, "jwst")
    except (
        LookupError,  # no match, and crds' irrelevant or omitted reference types
        crexc.CrdsUnknownInstrumentError,  # the context has no rules for the instrument
        crexc.CrdsUnknownReftypeError,  # nor for this reference type
        crexc.MissingParameterError,  # the product lacks a keyword the rules select by
    ) as err:
        return None, f"no match: {_first_line(err)}"
    except (crexc.CrdsError, *_CRDS_FAULTS) as err:
        raise _broken(path, f"{reftype} lookup in {context} failed ({_first_line(err)})") from None
    if not os.path.isfile(found):
        raise _broken(path, f"{reftype} reference file {name} of {context} is not in the cache ({found})")
    return os.path.abspath(found), None


def _first_line(err) -> str:
    text = " ".join(str(err).split("\n")[0].split())
    return text or type(err).__name__
