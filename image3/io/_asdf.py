"""ASDF without schema validation, for the workflow's own work files and for reading one node."""

import contextlib

__all__ = ["stable_extension_order", "unvalidated"]


@contextlib.contextmanager
def unvalidated():
    """A temporary asdf configuration that validates neither on read nor on write.

    Reading: ``validate_on_read`` off. Writing: asdf (6) validates every tree it writes and has no
    setting to skip it (80 % of writing a gwcs); the trees written here are gwcs objects as gwcs's
    own converters serialise them, so the check is skipped while the context lasts (asdf's
    ``schema.validate``, if asdf still has it; else writes stay validated). Jobs are
    single-threaded: nothing else writes ASDF meanwhile.

    The process's own configuration loads the installed extensions and resource mappings first:
    ``asdf.config_context`` copies them when they are loaded, and otherwise lists every installed
    package's entry points again, for each context (0.05-0.1 s a time, against about 0.015 s for
    reading one gwcs).
    """
    import asdf
    from asdf import schema

    process_config = asdf.get_config()
    process_config.extensions  # noqa: B018 (loaded on first access, then kept)
    process_config.resource_manager  # noqa: B018
    validate = getattr(schema, "validate", None)
    with asdf.config_context() as config:
        config.validate_on_read = False
        if validate is not None:
            schema.validate = _no_validation
        try:
            yield config
        finally:
            if validate is not None:
                schema.validate = validate


def _no_validation(*args, **kwargs):
    return None


@contextlib.contextmanager
def stable_extension_order():
    """While the context lasts, asdf lists the extensions a file uses (the tree's
    ``history.extensions`` and the YAML ``%TAG`` lines) sorted by extension URI.

    asdf keeps them in a set of proxies hashed by ``id()``, so their order depends on where objects
    happen to lie in memory: the same product written by two processes differs in its bytes. Sorted,
    a rerun writes the same file but for its date stamps. (Guarded: if asdf moves the set, files are
    written as asdf orders them.)
    """
    from asdf.extension import _serialization_context

    cls = getattr(_serialization_context, "SerializationContext", None)
    used = vars(cls).get("_extensions_used") if cls is not None else None
    if not isinstance(used, property):
        yield
        return
    cls._extensions_used = property(lambda self: sorted(used.fget(self), key=_extension_key))
    try:
        yield
    finally:
        cls._extensions_used = used


def _extension_key(extension):
    return (extension.extension_uri or "", extension.class_name or "")
