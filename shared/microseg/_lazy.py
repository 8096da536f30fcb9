"""Lazy package exports: names imported from their submodule on first use (PEP 562), so that a package's light
parts (reading images, listing inputs) can be used without importing torch or MONAI."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping


def lazy_exports(package: str, exports: Mapping[str, str]) -> tuple[Callable[[str], object], Callable[[], list]]:
    """``(__getattr__, __dir__)`` for ``package`` whose ``exports`` map each public name to the submodule (relative
    to the package) that defines it."""

    def getattr_(name: str) -> object:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{exports[name]}"), name)

    def dir_() -> list:
        return sorted(exports)

    return getattr_, dir_
