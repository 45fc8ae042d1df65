"""The one exception type for bad input: its message names the file or config key at fault."""

__all__ = ["InputError"]


class InputError(Exception):
    """Bad input (a file, an association or a config value), with a message naming it."""
