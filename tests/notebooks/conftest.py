"""Shared by the notebook tests: one work directory per test session, so later notebooks reuse earlier
notebooks' Datanets and cached runs (as they do for a user working through them in order)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def notebook_workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("notebook-work")


@pytest.fixture
def notebook_env(notebook_workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], Path]:
    """`notebook_env(name)`: the tiny size, the offline synthetic source, and work directory `name` of this
    session (notebooks run in the same one share Datanets, runs and the embedded chain)."""

    def use(name: str) -> Path:
        workdir = notebook_workdir / name
        for key, value in {
            "OLAB_NOTEBOOK_SIZE": "tiny",
            "OLAB_NOTEBOOK_DIR": str(workdir),
            "OLAB_AGNEWS_DIR": "",
        }.items():
            monkeypatch.setenv(key, value)
        return workdir

    return use
