"""Every marimo app runs as a plain script (`python app.py`) and its `test_*` cells pass under pytest."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
APPS = sorted(p for p in NOTEBOOKS.glob("*.py") if "marimo.App(" in p.read_text())


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """Run in a child with this environment minus this pytest's own variables (marimo reads them to decide
    whether it is being collected by pytest)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "PYTEST_XDIST"))}
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def test_there_are_marimo_apps():
    assert {p.name for p in APPS} >= {"datanet_explorer.py"}


@pytest.mark.slow
@pytest.mark.xdist_group("notebooks")
@pytest.mark.parametrize("app", APPS, ids=[p.stem for p in APPS])
def test_app_runs_as_a_script(app: Path, notebook_env):
    notebook_env("apps")
    done = run([sys.executable, str(app)], app.parent)
    assert done.returncode == 0, done.stderr[-4000:]
    assert "Traceback" not in done.stderr, done.stderr[-4000:]


@pytest.mark.slow
@pytest.mark.xdist_group("notebooks")
@pytest.mark.parametrize("app", APPS, ids=[p.stem for p in APPS])
def test_app_test_cells_pass_under_pytest(app: Path, notebook_env):
    notebook_env("apps")
    done = run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(app)], app.parent)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    passed = re.search(r"(\d+) passed", done.stdout)
    assert passed and int(passed.group(1)) >= 2, done.stdout[-2000:]  # the app's test_ cells ran
