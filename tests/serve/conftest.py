"""Fixtures for `olab serve`: three real runs on the tiny in-code GPT-2 (two causal-LM runs of 4 members each that
differ in LoRA rank, members in seed; one classifier), made once per session with `olab run`, and a live server."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import yaml
from tiny_run import TINY, deep_update

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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    def __init__(self, run_dirs: list[Path], *extra: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "olab.cli", "serve", *map(str, run_dirs), "--port", str(self.port), *extra],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"olab serve exited {self.proc.returncode}: {self.proc.stdout.read()}")
            try:
                requests.get(f"{self.url}/models", timeout=5).raise_for_status()
                return
            except requests.ConnectionError:
                time.sleep(0.5)
        self.stop()
        raise AssertionError("olab serve did not answer GET /v1/models within 300 s")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


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
