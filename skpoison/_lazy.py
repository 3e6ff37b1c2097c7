"""Package attributes imported on first use (module ``__getattr__``, PEP 562)."""

from __future__ import annotations

import importlib
import sys


def lazy_attributes(package, exports, submodules=()):
    """``(__getattr__, __dir__)`` for ``package`` that import its names when first asked.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    exports : dict
        Public name -> the submodule (relative name, without the dot) that
        defines it; once imported, a name is kept in the package's namespace.
    submodules : sequence of str
        Submodules reachable as attributes without an import statement.

    Examples
    --------
    >>> getattr_, dir_ = lazy_attributes("json", {"JSONDecodeError": "decoder"})
    >>> getattr_("JSONDecodeError").__name__, "JSONDecodeError" in dir_()
    ('JSONDecodeError', True)
    """
    def __getattr__(name):
        if name in exports:
            value = getattr(importlib.import_module(f".{exports[name]}", package), name)
            vars(sys.modules[package])[name] = value
            return value
        if name in submodules:
            return importlib.import_module(f".{name}", package)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__():
        return sorted({*vars(sys.modules[package]), *exports, *submodules})

    return __getattr__, __dir__
