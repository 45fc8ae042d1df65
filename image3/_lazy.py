"""Lazy re-exports for the library's subpackages (PEP 562).

A subpackage's ``__init__`` names its public modules; it re-exports the names each declares in its
``__all__``, each imported from its module on first use. So ``from image3.io.association import
Product`` (which the workflow does every time it loads) imports ``association`` alone, not the
package's heavier modules (``level2b`` imports stdatamodels: seconds on a small machine), while
``from image3.io import read_lean`` works too. The modules' ``__all__`` are read from their source
(no import) the first time the package is asked for a name it does not have yet.
"""

import ast
import importlib
import importlib.util
import re

__all__ = ["lazy_exports"]

_ALL = re.compile(r"^__all__ = (\[.*?\])", re.DOTALL | re.MULTILINE)


def _declared(module: str) -> list[str]:
    """The ``__all__`` of ``module`` (dotted name), read from its source file."""
    with open(importlib.util.find_spec(module).origin) as source:
        found = _ALL.search(source.read())
    return ast.literal_eval(found.group(1)) if found else []


def lazy_exports(package: str, modules: tuple[str, ...]):
    """``(__getattr__, __dir__)`` for ``package``, re-exporting the ``__all__`` of its ``modules``
    (names relative to ``package``); ``package.__all__`` is their union."""
    owners = {}

    def _owners():
        if not owners:
            owners.update({name: m for m in modules for name in _declared(f"{package}.{m}")})
        return owners

    def __getattr__(name):
        if name == "__all__":
            return sorted(_owners())
        if name not in _owners():
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{owners[name]}"), name)

    def __dir__():
        return sorted({*_owners(), *modules})

    return __getattr__, __dir__
