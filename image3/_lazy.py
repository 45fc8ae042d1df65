"""Lazy re-exports for the library's subpackages (PEP 562).

Each subpackage's ``__init__`` names its public names and the module that defines each; a name is
imported from its module on first use. So ``from image3.io.association import Product`` (which the
workflow does every time it loads) imports ``association`` alone, not the package's heavier modules
(``level2b`` imports stdatamodels: seconds on a small machine), while ``from image3.io import
read_lean`` still works.
"""

import importlib

__all__ = ["lazy_exports"]


def lazy_exports(package: str, exports: dict[str, list[str]]):
    """``(__all__, __getattr__, __dir__)`` of ``package`` re-exporting ``exports``.

    ``exports`` maps each submodule's name (relative to ``package``) to the public names it defines
    (its own ``__all__``).
    """
    owner = {name: module for module, names in exports.items() for name in names}

    def __getattr__(name):
        if name not in owner:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{owner[name]}"), name)

    def __dir__():
        return sorted({*owner, *exports})

    return sorted(owner), __getattr__, __dir__
