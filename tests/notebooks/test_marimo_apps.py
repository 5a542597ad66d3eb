"""Every marimo app runs as a plain script (`python app.py`) and its `test_*` cells pass under pytest (`pytest app.py`),
both in one interpreter, one after the other: the imports and the app's cached run are paid once."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
APPS = sorted(p for p in NOTEBOOKS.glob("*.py") if "marimo.App(" in p.read_text())
SCRIPT_DONE = "-- the app ran as a script --"
# `python APP` (the app as __main__), then `pytest APP` in the same process
SCRIPT_THEN_PYTEST = f"""
import runpy, sys
import pytest
runpy.run_path(sys.argv[1], run_name="__main__")
print({SCRIPT_DONE!r}, flush=True)
sys.exit(pytest.main(["-q", "-p", "no:cacheprovider", sys.argv[1]]))
"""


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
def test_app_runs_as_a_script_and_its_test_cells_pass_under_pytest(app: Path, notebook_env):
    notebook_env("apps")
    done = run([sys.executable, "-c", SCRIPT_THEN_PYTEST, str(app)], app.parent)
    tests = done.stdout.partition(SCRIPT_DONE)[2]  # what pytest printed
    assert SCRIPT_DONE in done.stdout, f"the app failed as a script:\n{done.stderr[-4000:]}"
    assert "Traceback" not in done.stderr, done.stderr[-4000:]
    assert done.returncode == 0, f"its test cells failed under pytest:\n{tests[-4000:]}{done.stderr[-2000:]}"
    passed = re.search(r"(\d+) passed", tests)
    assert passed and int(passed.group(1)) >= 2, tests[-2000:]  # the app's test_ cells ran
