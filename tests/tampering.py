"""For the tamper tests: the CLI run in this process (its exit codes and messages), every leaf of a JSON document,
and a changed value for each."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import pytest

from olab.cli import main


def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """Run `olab ARGS` as the console script does; (exit code, stdout + stderr)."""
    monkeypatch.setattr(sys, "argv", ["olab", *args])
    try:
        main()
        code = 0
    except SystemExit as e:
        code = int(e.code or 0)
    out = capsys.readouterr()
    return code, out.out + out.err


def leaves(node: Any, path: tuple = ()) -> Iterator[tuple]:
    if isinstance(node, dict) and node:
        for k, v in node.items():
            yield from leaves(v, (*path, k))
    elif isinstance(node, list) and node:
        for i, v in enumerate(node):
            yield from leaves(v, (*path, i))
    else:
        yield path


def is_under(path: tuple, key: str) -> bool:
    parts = key.split(".")
    return len(path) >= len(parts) and all(p == "*" or str(x) == p for p, x in zip(parts, path, strict=False))


def changed(value: Any) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return value + 1
    if isinstance(value, str) and value:
        return value[:-1] + ("1" if value[-1] != "1" else "2")
    return "edited"  # None, "" and empty containers


def set_leaf(data: Any, path: tuple, value: Any) -> None:
    for part in path[:-1]:
        data = data[part]
    data[path[-1]] = value


def get_leaf(data: Any, path: tuple) -> Any:
    for part in path:
        data = data[part]
    return data
