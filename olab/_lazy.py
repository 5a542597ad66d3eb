"""Lazy package exports (PEP 562): `from olab.datanet import Datanet` works, but importing the package
loads nothing heavy, so the CLI's `--help` and config validation never pull in torch, datasets or web3."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any


def lazy_exports(package: str, exports: Mapping[str, Iterable[str]]) -> tuple[list[str], Callable[[str], Any]]:
    """`(__all__, __getattr__)` for `package`, whose public names (values) live in its submodules (keys)."""
    where = {name: module for module, names in exports.items() for name in names}

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(module), name)

    return sorted(where), __getattr__
