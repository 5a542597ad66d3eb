"""Fixtures for the Datanet tests: real AG News files, small configs, simulated signers, OpenZeppelin's JS."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from repo_paths import AGNEWS, REPO

from olab.datanet import Datanet, simulated_accounts

OZ_SCRIPT = REPO / "tests" / "js" / "oz_merkle.js"
OZ_PACKAGE = REPO / "node_modules" / "@openzeppelin" / "merkle-tree"


@pytest.fixture
def agnews_dev() -> Path:
    path = AGNEWS / "dev.tsv"
    if not path.exists():
        pytest.skip(f"the AG News sample is not at {path}")
    return path


def small_config(root: Path, **extra: Any) -> dict[str, Any]:
    """A 60-record synthetic Datanet with 3 simulated contributors under `root`."""
    cfg: dict[str, Any] = {
        "name": "small",
        "root_dir": str(root),
        "source": {"kind": "synthetic", "n": 60, "seed": 1},
        "contributors": {"mode": "simulate", "n": 3, "seed": 7},
    }
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(cfg.get(key), dict):
            cfg[key] = {**cfg[key], **value}
        else:
            cfg[key] = value
    return cfg


@pytest.fixture
def make_config() -> Callable[..., dict[str, Any]]:
    """`small_config` for test modules (conftest is not importable from them)."""
    return small_config


@pytest.fixture
def small(tmp_path: Path) -> Datanet:
    return Datanet.build(small_config(tmp_path), progress=False)


@pytest.fixture
def review(tmp_path: Path) -> Datanet:
    return Datanet.build(small_config(tmp_path, name="reviewed", policy="review"), progress=False)


@pytest.fixture
def signers() -> list:
    """Three contributors who can sign (keys from a seed other than the Datanet's own)."""
    return simulated_accounts(3, seed=99)


@pytest.fixture
def oz() -> Callable[[dict[str, Any]], dict[str, Any]]:
    """Run OpenZeppelin's JS library on a request (see tests/js/oz_merkle.js)."""
    if shutil.which("node") is None:
        pytest.skip("node is not installed; CI installs nodejs")
    if not OZ_PACKAGE.exists():
        pytest.skip(f"{OZ_PACKAGE} is missing: run `npm install` in the project root (CI does)")

    def run(request: dict[str, Any]) -> dict[str, Any]:
        done = subprocess.run(
            ["node", str(OZ_SCRIPT)], input=json.dumps(request), capture_output=True, text=True, timeout=120, cwd=REPO
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    return run
