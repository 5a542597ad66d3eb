"""Shared by the notebook tests: one work directory per test session, so later notebooks reuse earlier
notebooks' Datanets and cached runs (as they do for a user working through them in order)."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"


@pytest.fixture(scope="session")
def notebook_workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("notebook-work")


@pytest.fixture
def notebook_env(notebook_workdir: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Small sizes, the offline synthetic source, and the session's work directory."""
    env = {"OLAB_NOTEBOOK_SIZE": "small", "OLAB_NOTEBOOK_DIR": str(notebook_workdir), "OLAB_AGNEWS_DIR": ""}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env
