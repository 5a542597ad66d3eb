"""A live `olab serve` process on a free port of 127.0.0.1, for the serve tests."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import requests


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    def __init__(self, run_dirs: list[Path], *extra: str, cwd: Path | None = None, env: dict | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "olab.cli", "serve", *map(str, run_dirs), "--port", str(self.port), *extra],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=cwd, env=env,
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
