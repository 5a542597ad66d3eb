"""`olab.io`: directory commits under concurrency and kills (several real processes, one directory)."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from olab.io import atomic_dir, atomic_write_text

CTX = mp.get_context("fork")


def _commit_once(path: str, who: int, barrier, results) -> None:
    try:
        with atomic_dir(path) as tmp:
            (tmp / "who").write_text(str(who))
            barrier.wait(timeout=30)  # every process is past the entry check before anyone commits
        results.put((who, "committed"))
    except FileExistsError:
        results.put((who, "refused"))
    except Exception as e:  # reported, so the test names it instead of hanging
        results.put((who, f"{type(e).__name__}: {e}"))


def _overwrite_many(path: str, who: int, rounds: int, results) -> None:
    errors = []
    for i in range(rounds):
        try:
            with atomic_dir(path, overwrite=True) as tmp:
                (tmp / "a").write_text(f"{who}-{i}")
                (tmp / "b").write_text(f"{who}-{i}")
        except Exception as e:
            errors.append(f"{type(e).__name__}: {e}")
    results.put(errors)


def _run(target, args_list) -> list:
    results = CTX.Queue()
    procs = [CTX.Process(target=target, args=(*args, results)) for args in args_list]
    for p in procs:
        p.start()
    out = [results.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    return out


def test_exactly_one_of_many_concurrent_creators_commits_and_its_content_stays(tmp_path: Path):
    n = 6
    barrier = CTX.Barrier(n)
    path = tmp_path / "v0001"
    outcomes = dict(_run(_commit_once, [(str(path), who, barrier) for who in range(n)]))
    winners = [who for who, what in outcomes.items() if what == "committed"]
    assert sorted(outcomes.values()).count("refused") == n - 1, outcomes
    assert len(winners) == 1, f"more than one process was told its directory was committed: {outcomes}"
    assert (path / "who").read_text() == str(winners[0])


def test_concurrent_overwrites_never_fail_and_leave_one_complete_directory(tmp_path: Path):
    path = tmp_path / "entry"
    errors = [e for batch in _run(_overwrite_many, [(str(path), who, 60) for who in range(6)]) for e in batch]
    assert errors == [], f"{len(errors)} of 360 commits failed, e.g. {errors[:3]}"
    assert (path / "a").read_text() == (path / "b").read_text()
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith((".tmp", ".old"))] == []


KILLED = """
import sys, time
from olab.io import atomic_dir
with atomic_dir(sys.argv[1]) as tmp:
    (tmp / "half").write_text("x")
    print("inside", flush=True)
    time.sleep(60)
"""


def test_a_killed_writers_temporary_is_cleaned_by_the_next_write(tmp_path: Path):
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED, str(tmp_path / "run-a")], stdout=subprocess.PIPE, text=True, env=env
    )
    assert proc.stdout.readline().strip() == "inside"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    left = [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert len(left) == 1 and not (tmp_path / "run-a").exists()
    with atomic_dir(tmp_path / "live") as tmp:
        (tmp / "f").write_text("y")
    assert not left[0].exists(), "the killed writer's temporary directory was not cleaned"
    assert (tmp_path / "live" / "f").read_text() == "y"


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_written_files_and_folders_follow_the_umask_not_owner_only(tmp_path, umask_022):
    report = atomic_write_text(tmp_path / "run" / "report.html", "<html></html>")
    with atomic_dir(tmp_path / "adapter") as tmp:
        (tmp / "weights.bin").write_bytes(b"x")
    assert stat.S_IMODE(report.stat().st_mode) == 0o644  # a colleague can read a shared report
    assert stat.S_IMODE((tmp_path / "adapter").stat().st_mode) == 0o755
    os.umask(0o077)  # a user who wants owner-only gets it
    private = atomic_write_text(tmp_path / "private.json", "{}")
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
