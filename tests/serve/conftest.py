"""Fixtures for `olab serve`: three real runs on the tiny in-code GPT-2 (two causal-LM runs of 4 members each that
differ in LoRA rank, members in seed; one classifier), made once per session with `olab run`, and a live server.
Every serve test runs in one xdist group, on one worker, so they are made once."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from serve_helpers import LiveServer
from tiny_run import TINY, deep_update


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test here runs in one xdist group: the runs below are made once (about 40 s), not once per worker."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.xdist_group("serve"))


# four members (seeds 0..3) per causal-LM run, the r=4 / r=8 runs differ in LoRA rank
SERVE_RUN = {
    "run": {"models": 4},
    "datanet": {"source": {"kind": "synthetic", "n": 24, "seed": 0}},
    "targets": {"source": {"kind": "synthetic", "n": 4, "seed": 1}},
    "finetune": {"lora": {"target_modules": ["c_attn"], "r": 4}},
    "attribution": {"proj_dim": 128},
}


def _olab(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "olab.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=1800)  # fmt: skip
    assert proc.returncode == 0, f"olab {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


def _run(cwd: Path, name: str, patch: dict) -> Path:
    config = deep_update(deep_update(TINY, SERVE_RUN), patch)
    (cwd / f"{name}.yaml").write_text(yaml.safe_dump(config))
    out = _olab("run", f"{name}.yaml", "--no-progress", cwd=cwd).stdout
    line = next(ln for ln in out.splitlines() if ln.startswith("run directory:"))
    return cwd / line.split(":", 1)[1].strip()


@pytest.fixture(scope="session")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    cwd = tmp_path_factory.mktemp("serve-project")
    return {
        "lm_r4": _run(cwd, "lm_r4", {}),
        "lm_r8": _run(cwd, "lm_r8", {"finetune": {"lora": {"r": 8}}}),
        "clf": _run(cwd, "clf", {"run": {"models": 1}, "finetune": {"task": "classification"}}),
    }


@pytest.fixture(scope="session")
def altered_run(runs: dict[str, Path]) -> Path:
    """A copy of the r=4 run whose first adapter's weights were changed after the run committed their hash."""
    import shutil

    copy = runs["lm_r4"].parent / "altered00000000"
    shutil.copytree(runs["lm_r4"], copy)
    weights = copy / "adapters" / "model-0" / "adapter" / "adapter_model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-4:] = bytes(b ^ 0xFF for b in data[-4:])
    weights.write_bytes(bytes(data))
    return copy


@pytest.fixture(scope="session")
def server(runs: dict[str, Path], altered_run: Path) -> Iterator[LiveServer]:
    live = LiveServer([runs["lm_r4"], runs["lm_r8"], runs["clf"], altered_run])
    yield live
    live.stop()
