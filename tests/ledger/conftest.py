"""Fixtures for the ledger tests: an embedded chain and a real anvil node, each deployed once per module."""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from olab.ledger import ChainConfig, Ledger, RunCommitment, anvil
from olab.ledger.accounts import dev_address
from olab.merkle import StandardMerkleTree

ROOT = Path(__file__).resolve().parents[2]
NODE_BIN = ROOT / "node_modules" / ".bin"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def free_port() -> int:
    """A TCP port nothing listens on (loopback)."""
    return _free_port()


def anvil_or_skip() -> Path:
    path = NODE_BIN / "anvil"
    if not path.exists():
        pytest.skip(f"anvil is not installed at {path}: run `npm install` in the project root (CI does)")
    return path


@pytest.fixture(scope="session")
def anvil_binary() -> Path:
    return anvil_or_skip()


@pytest.fixture(scope="module")
def anvil_cfg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChainConfig]:
    """A real anvil on a free loopback port (chain id 161201), stopped after the module."""
    binary = anvil_or_skip()
    state = tmp_path_factory.mktemp("anvil")
    cfg = ChainConfig(backend="anvil", state_dir=str(state), anvil={"port": _free_port()})
    anvil.start(cfg, anvil=binary)
    yield cfg
    anvil.stop(cfg)


@pytest.fixture(scope="module", params=["embedded", pytest.param("anvil", marks=pytest.mark.anvil)])
def ledger(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ledger]:
    """A deployed ledger on each backend, shared by the tests of a module (each test uses fresh ids)."""
    if request.param == "embedded":
        cfg = ChainConfig(state_dir=str(tmp_path_factory.mktemp("embedded")))
        with Ledger(cfg) as led:
            yield led
    else:
        with Ledger(request.getfixturevalue("anvil_cfg")) as led:
            yield led


@dataclass
class Run:
    commitment: RunCommitment
    tree: StandardMerkleTree
    values: list[list]

    @property
    def run_id(self) -> str:
        return self.commitment.run_id

    def share(self, i: int) -> tuple[str, int, list[str]]:
        address, ppm = self.values[i]
        return address, ppm, self.tree.proof(i)


def make_run(n: int = 4, shares: list[int] | None = None) -> Run:
    """A run with a random id whose rewards tree gives `n` contributors (dev accounts 1.. first) shares summing to 1e6."""
    if shares is None:
        shares = [1_000_000 // n] * n
        shares[0] += 1_000_000 - sum(shares)
    addresses = [dev_address(i + 1) if i < 9 else "0x" + os.urandom(20).hex() for i in range(len(shares))]
    values = [[a, s] for a, s in zip(addresses, shares, strict=True)]
    tree = StandardMerkleTree(values, ["address", "uint256"])
    h = lambda: "sha256:" + os.urandom(32).hex()  # noqa: E731
    c = RunCommitment("0x" + os.urandom(32).hex(), h(), h(), h(), tree.root_hex, h())
    return Run(c, tree, values)


@pytest.fixture
def new_run() -> Callable[..., Run]:
    return make_run


@pytest.fixture(scope="session")
def node_tool() -> Callable[[str], str]:
    """Path of a tool from node_modules/.bin (cast, ...), skipping when npm tools are not installed."""

    def find(name: str) -> str:
        path = NODE_BIN / name
        if not path.exists() or shutil.which("node") is None:
            pytest.skip(f"{name} (or node) is not installed: run `npm install` in the project root (CI does)")
        return str(path)

    return find
