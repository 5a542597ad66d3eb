"""Start, stop and inspect a local Foundry anvil node (the `anvil` backend).

anvil listens on loopback only, persists its chain to `<state_dir>/anvil-state.json` (dumped every
`anvil.state_interval_s` seconds and on a clean stop) and is recorded in `<state_dir>/anvil.json`
(pid, port, chain id), which the ledger reads to find it. anvil prints its development keys on
stdout at start-up, so stdout is discarded; only stderr goes to `<state_dir>/anvil.log`.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import psutil

import olab
from olab.errors import LedgerError
from olab.io import atomic_write_json, read_json
from olab.ledger.config import ChainConfig

INFO_FILE, STATE_FILE, LOG_FILE = "anvil.json", "anvil-state.json", "anvil.log"


def find_anvil(start: Path | None = None) -> Path:
    """`$OLAB_ANVIL`, else `node_modules/.bin/anvil` in the working directory, the project root or a parent."""
    env = os.environ.get("OLAB_ANVIL")
    if env:
        if not Path(env).is_file():
            raise LedgerError(f"$OLAB_ANVIL is {env!r}, which is not a file")
        return Path(env)
    roots = [Path(start or Path.cwd()).resolve(), Path(olab.__file__).resolve().parents[1]]
    for root in roots:
        for d in (root, *root.parents):
            candidate = d / "node_modules" / ".bin" / "anvil"
            if candidate.exists():
                return candidate
    raise LedgerError(
        "anvil not found: run `npm install` in the olab project root (it installs @foundry-rs/anvil into "
        "node_modules/.bin), or set $OLAB_ANVIL to the anvil binary"
    )


def _rpc(url: str, method: str, timeout: float = 2.0) -> Any:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": []}).encode()
    req = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read())["result"]


def _alive(pid: int) -> bool:
    try:  # guard against a recycled pid: it must still be an anvil
        return any("anvil" in part for part in psutil.Process(pid).cmdline())
    except psutil.NoSuchProcess:
        return False
    except psutil.Error:  # alive, but its command line is not ours to read
        return True


def info(cfg: ChainConfig) -> dict[str, Any] | None:
    """The anvil recorded under state_dir when its process is still alive, else None."""
    path = Path(cfg.state_dir) / INFO_FILE
    try:
        data = read_json(path)
    except (OSError, ValueError):
        return None
    return data if _alive(int(data.get("pid", -1))) else None


def node_url(cfg: ChainConfig) -> str:
    """Where the anvil backend connects: the node `olab chain up` recorded, else anvil.host:anvil.port."""
    running = info(cfg)
    if running:
        return str(running["rpc_url"])
    return f"http://{cfg.anvil.host}:{cfg.anvil.port}"


def start(cfg: ChainConfig, anvil: Path | None = None) -> dict[str, Any]:
    """Start anvil per `cfg.anvil` (or return the one already running) and wait until it answers."""
    running = info(cfg)
    if running:
        return {**running, "already_running": True}
    state_dir = Path(cfg.state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    binary = anvil or find_anvil()
    a = cfg.anvil
    url = f"http://{'[::1]' if a.host == '::1' else a.host}:{a.port}"
    state_file = (state_dir / STATE_FILE).resolve()
    _check_port_free(a.host, a.port)
    cmd = [str(binary), "--host", a.host, "--port", str(a.port), "--chain-id", str(a.chain_id),
           "--state", str(state_file), "--state-interval", str(a.state_interval_s)]  # fmt: skip
    with open(state_dir / LOG_FILE, "ab") as log:
        proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log, start_new_session=True
        )
    deadline = time.monotonic() + a.start_timeout_s
    while True:
        if proc.poll() is not None:
            raise LedgerError(f"anvil exited at start-up (code {proc.returncode}): {_log_tail(state_dir)}")
        try:
            if int(_rpc(url, "eth_chainId"), 16) == a.chain_id:
                break
        except (OSError, ValueError, KeyError):
            pass
        if time.monotonic() > deadline:
            _terminate(proc.pid)
            raise LedgerError(f"anvil did not answer at {url} within {a.start_timeout_s:g}s: {_log_tail(state_dir)}")
        time.sleep(0.1)
    record = {
        "pid": proc.pid,
        "host": a.host,
        "port": a.port,
        "chain_id": a.chain_id,
        "rpc_url": url,
        "state_file": str(state_file),
        "binary": str(binary),
        "started_at": int(time.time()),
    }
    atomic_write_json(state_dir / INFO_FILE, record)
    return record


def _check_port_free(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as anvil binds: a listener, not TIME_WAIT, blocks
        try:
            s.bind((host, port))
        except OSError as e:
            raise LedgerError(f"cannot start anvil on {host}:{port}: {e.strerror}; pick another with --port") from None


def stop(cfg: ChainConfig, timeout_s: float = 15.0) -> dict[str, Any] | None:
    """Stop the recorded anvil cleanly (it dumps its state on the way out); None if none ran."""
    path = Path(cfg.state_dir) / INFO_FILE
    running = info(cfg)
    if running:
        _terminate(int(running["pid"]), timeout_s)
    path.unlink(missing_ok=True)
    return running


def _terminate(pid: int, timeout_s: float = 15.0) -> None:
    try:
        os.kill(pid, signal.SIGTERM)  # npm's wrapper forwards it to anvil, which dumps its state
    except OSError:
        return
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)  # reap it when we are its parent
        except ChildProcessError:
            done = 0 if _alive(pid) else pid
        if done:
            return
        time.sleep(0.1)
    with contextlib.suppress(OSError):
        os.killpg(pid, signal.SIGKILL)  # the session we started it in: the wrapper and anvil


def status(cfg: ChainConfig) -> dict[str, Any]:
    """What is known about the node: recorded info, whether it answers, its block number."""
    running = info(cfg)
    if not running:
        return {"running": False, "state_dir": cfg.state_dir}
    out = {"running": True, **running}
    try:
        out["block_number"] = int(_rpc(running["rpc_url"], "eth_blockNumber"), 16)
        out["answering"] = True
    except (OSError, ValueError, KeyError):
        out["answering"] = False
    return out


def _log_tail(state_dir: Path, lines: int = 5) -> str:
    try:
        text = (state_dir / LOG_FILE).read_text(errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return " | ".join(text[-lines:]) or "(empty log)"
