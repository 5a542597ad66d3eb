"""Fixtures for end-to-end pipeline tests: the real quickstart, run once per test session.

Every olab command runs in a subprocess with the working directory set to a temporary directory,
so the relative paths of the configs (runs/, datanets/, .olab/chain) land there, as they would for
a user running from their project directory.
"""

from __future__ import annotations

import pytest
from pipeline_helpers import Run, olab, run_dir_from
from repo_paths import REPO


@pytest.fixture(scope="session")
def quickstart(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """`olab run configs/quickstart.yaml`, unchanged, in a fresh project directory."""
    cwd = tmp_path_factory.mktemp("quickstart")
    proc = olab("run", str(REPO / "configs" / "quickstart.yaml"), "--no-progress", cwd=cwd)
    return Run(cwd, run_dir_from(proc.stdout, cwd), proc.stdout + proc.stderr, proc.stderr)
