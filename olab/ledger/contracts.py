"""The ledger's Vyper contracts, compiled in-process and cached by source hash.

Compiling all four takes a few seconds, so the ABI and bytecode are kept in a per-user cache
(`$XDG_CACHE_HOME/olab/vyper`, else `~/.cache/olab/vyper`) keyed by the source text and the
compiler version; a changed contract or compiler compiles afresh.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.metadata
import json
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from olab.errors import LedgerError
from olab.hashing import keccak, sha256_bytes
from olab.io import atomic_write_json

# deployment order: the distributor's constructor takes the token and the registry, the vault all three
CONTRACT_NAMES = ("TestToken", "DatanetRegistry", "AttributionRegistry", "RewardDistributor", "StakeVault")
_FORMATS = ["abi", "bytecode", "bytecode_runtime"]


@dataclass(frozen=True)
class Compiled:
    name: str
    abi: list[dict[str, Any]]
    bytecode: str  # creation code, 0x-hex
    runtime_hash: str  # keccak of the deployed code, 0x-hex: identifies a deployment of this source


def source(name: str) -> str:
    if name not in CONTRACT_NAMES:
        raise LedgerError(f"unknown contract {name!r}; olab ships {', '.join(CONTRACT_NAMES)}")
    return (resources.files("olab.ledger") / "contracts" / f"{name}.vy").read_text()


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "olab" / "vyper"


def _vyper_version() -> str:
    return importlib.metadata.version("vyper")  # without importing the compiler (half a second)


def _cache_key(name: str, text: str) -> str:
    return sha256_bytes(f"{_vyper_version()}\n{_FORMATS}\n{name}\n{text}".encode()).split(":")[1]


@functools.cache
def compiled(name: str) -> Compiled:
    """ABI and bytecode of one contract: from the cache, else compiled with `vyper.compile_code`."""
    text = source(name)
    key = _cache_key(name, text)
    path = cache_dir() / f"{name}-{key[:24]}.json"
    try:
        out = json.loads(path.read_text())
    except (OSError, ValueError):
        out = _compile(name, text)
        with contextlib.suppress(OSError):  # a read-only home only costs a recompile next time
            atomic_write_json(path, out)
    runtime = bytes.fromhex(out["bytecode_runtime"].removeprefix("0x"))
    return Compiled(name, out["abi"], out["bytecode"], "0x" + keccak(runtime).hex())


def _compile(name: str, text: str) -> dict[str, Any]:
    import vyper

    try:
        out = vyper.compile_code(text, contract_path=f"{name}.vy", output_formats=_FORMATS)
    except Exception as e:  # vyper raises many exception types; all mean the same here
        raise LedgerError(f"contract {name}.vy does not compile with vyper {vyper.__version__}: {e}") from e
    return {k: out[k] for k in _FORMATS}
