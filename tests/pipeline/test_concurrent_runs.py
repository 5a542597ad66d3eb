"""Two `olab run`s of one config in one project directory at the same time both succeed, agree on one run,
and leave a run directory that verifies, with no temporary left behind (issue #13, item 1)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from pipeline_helpers import run_dir_from
from test_inputs import write_config
from tiny_run import TINY

from olab.pipeline import Run
from olab.pipeline.manifest import run_dir_name


def test_concurrent_runs_of_one_config_in_one_directory(tmp_path: Path) -> None:
    config = write_config(tmp_path, TINY)
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "olab.cli", "run", str(config), "--no-progress"],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=1200)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    run_dirs = {run_dir_from(out, tmp_path) for out in outputs}
    assert len(run_dirs) == 1, run_dirs
    run_dir = run_dirs.pop()
    assert run_dir_name(Run.open(run_dir).run_id) == run_dir.name
    done = subprocess.run(
        [sys.executable, "-m", "olab.cli", "verify", str(run_dir)], cwd=tmp_path, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    leftovers = [p for p in tmp_path.rglob("*") if p.name.endswith((".tmp", ".old"))]
    assert leftovers == []
