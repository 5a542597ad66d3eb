"""Helpers for end-to-end pipeline tests: run the olab CLI in a project directory, copy a finished run.

Every olab command runs in a subprocess with the working directory set to a temporary directory,
so the relative paths of the configs (runs/, datanets/, .olab/chain) land there, as they would for
a user running from their project directory.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from olab.pipeline import Run as OpenedRun


def olab(
    *args: str, cwd: Path, check: bool = True, timeout: int = 2400, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """Run the `olab` CLI in a new process, in `cwd` (with environment `env`, else this process's)."""
    proc = subprocess.run(
        [sys.executable, "-m", "olab.cli", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"olab {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


@dataclass
class Run:
    cwd: Path
    run_dir: Path
    output: str
    stderr: str = ""

    @property
    def opened(self) -> OpenedRun:
        """The run as `olab.Run` (its Datanet and chain state are found in the project directory, `cwd`)."""
        return OpenedRun.open(self.run_dir)

    def copy(self, dest: Path) -> Run:
        """An independent copy of the whole project directory (runs, Datanets, chain state)."""
        shutil.copytree(self.cwd, dest)
        return Run(dest, dest / self.run_dir.relative_to(self.cwd), self.output, self.stderr)


def run_dir_from(output: str, cwd: Path) -> Path:
    line = next(ln for ln in output.splitlines() if ln.startswith("run directory:"))
    return cwd / line.split(":", 1)[1].strip()
