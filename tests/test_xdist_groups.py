"""CI runs `pytest -n 2 --dist loadgroup` (Makefile): the tests of one `xdist_group` run on one worker, so a session
fixture they share (the quickstart, the serve runs, one JupyterLab) is built once, not once per worker. Some pytest and
pytest-xdist pairs silently drop the groups (pytest 9.2 with xdist 3.8: pytest-dev/pytest-xdist#1386)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SUITE = """
import os
from pathlib import Path

import pytest

RAN = Path(__file__).parent / "ran"  # each test writes the name of the worker that ran it here


def record(name):
    RAN.mkdir(exist_ok=True)
    (RAN / name).write_text(os.environ["PYTEST_XDIST_WORKER"])


@pytest.mark.xdist_group("one")
@pytest.mark.parametrize("i", range(4))
def test_grouped(i):
    record(f"grouped-{i}")


@pytest.mark.parametrize("i", range(4))
def test_free(i):
    record(f"free-{i}")
"""


def test_the_tests_of_one_xdist_group_run_on_one_worker(tmp_path: Path) -> None:
    (tmp_path / "test_suite.py").write_text(SUITE)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}  # not this run's worker settings
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "2", "--dist", "loadgroup", "-p", "no:cacheprovider",
         "--rootdir", str(tmp_path), str(tmp_path)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    ran = {p.name: p.read_text() for p in (tmp_path / "ran").iterdir()}
    assert len(ran) == 8, sorted(ran)
    grouped = {worker for name, worker in ran.items() if name.startswith("grouped-")}
    assert len(grouped) == 1, f"the group ran on workers {sorted(grouped)}"
