"""One place for every hash olab computes.

- `keccak` for anything that meets the EVM (Merkle leaves, record hashes);
- `sha256_*` for artifacts on disk (files, directories, canonical JSON), written as "sha256:<hex>".
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from eth_hash.backends.pysha3 import PySha3Backend

# keccak256 of bytes (the EVM's hash). eth-hash's pysha3 backend (installed by `eth-hash[pysha3]`) is a C keccak,
# ~7x faster than the pycryptodome backend that `eth_hash.auto` picks when both are installed.
keccak = PySha3Backend().keccak256

_CHUNK = 1 << 20


def canonical_json(obj: Any) -> bytes:
    """Canonical JSON bytes: sorted keys, no whitespace, UTF-8, no NaN."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def _tag(h: Any) -> str:
    return "sha256:" + h.hexdigest()


def sha256_bytes(data: bytes) -> str:
    return _tag(hashlib.sha256(data))


def hash_json(obj: Any) -> str:
    """sha256 over the canonical JSON encoding of `obj`."""
    return sha256_bytes(canonical_json(obj))


# a dataset's content: text and label (classification), prompt and response (instruction records), and a run's
# reference answers when its target labels are the adapter's generated answers (targets.generate)
INSTRUCTION_COLUMNS = ("prompt", "response")  # a dataset with both holds instruction records
DATASET_COLUMNS = ("text", "label", *INSTRUCTION_COLUMNS, "reference")


def dataset_hash(ds: Any) -> str:
    """Hash of the content columns (DATASET_COLUMNS) a `datasets.Dataset` has: a run's targets, attribution's
    train and target sets. Other columns (ids, contributors) are not what a model saw."""
    return hash_json({c: list(ds[c]) for c in DATASET_COLUMNS if c in ds.column_names})


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return _tag(h)


def sha256_dir(path: str | Path, exclude: tuple[str, ...] = ()) -> str:
    """Hash of a directory tree: sorted relative paths and the sha256 of each file's contents."""
    root = Path(path)
    entries = {
        p.relative_to(root).as_posix(): sha256_file(p)
        for p in sorted(root.rglob("*"))
        if p.is_file() and not any(part in exclude for part in p.relative_to(root).parts)
    }
    return hash_json(entries)


def bytes32_hex(b: bytes) -> str:
    return "0x" + b.hex()
