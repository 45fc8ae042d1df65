"""ASDF without schema validation, for the workflow's own work files and for reading one node."""

import contextlib

__all__ = ["unvalidated"]


@contextlib.contextmanager
def unvalidated():
    """A temporary asdf configuration that validates neither on read nor on write.

    The process's own configuration loads the installed extensions and resource mappings first:
    ``asdf.config_context`` copies them when they are loaded, and otherwise lists every installed
    package's entry points again, for each context (0.05-0.1 s a time, against about 0.015 s for
    reading one gwcs).
    """
    import asdf

    process_config = asdf.get_config()
    process_config.extensions  # noqa: B018 (loaded on first access, then kept)
    process_config.resource_manager  # noqa: B018
    with asdf.config_context() as config:
        config.validate_on_read = False
        config.validate_on_write = False
        yield config
