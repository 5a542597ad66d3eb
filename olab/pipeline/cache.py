"""Stage cache: a stage's artifact directory is keyed by the hash of its inputs.

A stage whose config and input hashes are unchanged, run by the same code, is not recomputed: the key also
covers olab's own source files and the versions of the libraries that compute the artifacts, so upgrading
either rebuilds instead of reusing what older code made. Entries are written with
`atomic_dir`, so an interrupted stage leaves nothing behind and a rerun resumes from the last finished
stage. On reuse the entry's recorded content hash is checked, so a tampered cache entry is rebuilt, not
trusted. When two processes build the same entry at once, the first to commit wins and the other uses
its entry: a valid entry that another process may be reading is never replaced.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from olab.hashing import hash_json, sha256_dir
from olab.io import atomic_dir, atomic_write_json, read_json

META = ".olab-stage.json"


# the libraries whose versions can change a stage's artifact (the model code, the numerics, the attribution)
LIBRARIES = ("torch", "transformers", "peft", "numpy", "datasets", "tokenizers")


@functools.cache
def code_fingerprint() -> str:
    """A hash of olab's source files and of LIBRARIES' installed versions (read from metadata, not imported)."""
    package = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    for name in LIBRARIES:
        try:
            digest.update(f"{name}=={importlib.metadata.version(name)}\0".encode())
        except importlib.metadata.PackageNotFoundError:
            digest.update(f"{name} absent\0".encode())
    return digest.hexdigest()[:16]


def stage_key(stage: str, inputs: dict[str, Any]) -> str:
    """The cache key of a stage: a hash of its name, its config, its inputs' hashes and the code that runs it."""
    return hash_json({"stage": stage, "inputs": inputs, "code": code_fingerprint()}).removeprefix("sha256:")[:24]


def cached(cache_root: Path, stage: str, inputs: dict[str, Any], build: Callable[[Path], None]) -> tuple[Path, bool]:
    """Return (entry dir, reused?) for `stage` with `inputs`, running `build(tmp_dir)` on a miss."""
    entry = Path(cache_root) / f"{stage}-{stage_key(stage, inputs)}"
    if is_valid(entry):
        return entry, True
    try:
        with atomic_dir(entry, overwrite=lambda existing: not is_valid(existing)) as tmp:
            build(tmp)
            meta = {"stage": stage, "inputs": inputs, "code": code_fingerprint(), "content_hash": sha256_dir(tmp)}
            atomic_write_json(tmp / META, meta)
    except FileExistsError:  # another process committed a valid entry while this one was building
        if not is_valid(entry):
            raise
        return entry, True
    return entry, False


def is_valid(entry: Path) -> bool:
    """True when `entry` holds its metadata and its content still hashes to what was recorded."""
    meta = entry / META
    try:
        return meta.is_file() and read_json(meta).get("content_hash") == sha256_dir(entry, exclude=(META,))
    except (OSError, ValueError):
        return False


def copy_entry(entry: Path, dest: Path) -> None:
    """Copy a cache entry into a run directory (without the cache's own metadata)."""
    shutil.copytree(entry, dest, ignore=shutil.ignore_patterns(META))
