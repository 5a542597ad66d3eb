"""Stage cache: a stage's artifact directory is keyed by the hash of its inputs.

A stage whose config and input hashes are unchanged is not recomputed. Entries are written with
`atomic_dir`, so an interrupted stage leaves nothing behind and a rerun resumes from the last finished
stage. On reuse the entry's recorded content hash is checked, so a tampered cache entry is rebuilt, not
trusted.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from olab.hashing import hash_json, sha256_dir
from olab.io import atomic_dir, atomic_write_json, read_json

META = ".olab-stage.json"


def stage_key(stage: str, inputs: dict[str, Any]) -> str:
    """The cache key of a stage: a hash of its name, its config and its inputs' hashes."""
    return hash_json({"stage": stage, "inputs": inputs}).removeprefix("sha256:")[:24]


def cached(cache_root: Path, stage: str, inputs: dict[str, Any], build: Callable[[Path], None]) -> tuple[Path, bool]:
    """Return (entry dir, reused?) for `stage` with `inputs`, running `build(tmp_dir)` on a miss."""
    entry = Path(cache_root) / f"{stage}-{stage_key(stage, inputs)}"
    meta = entry / META
    if meta.is_file() and read_json(meta).get("content_hash") == sha256_dir(entry, exclude=(META,)):
        return entry, True
    with atomic_dir(entry, overwrite=True) as tmp:
        build(tmp)
        atomic_write_json(tmp / META, {"stage": stage, "inputs": inputs, "content_hash": sha256_dir(tmp)})
    return entry, False


def copy_entry(entry: Path, dest: Path) -> None:
    """Copy a cache entry into a run directory (without the cache's own metadata)."""
    shutil.copytree(entry, dest, ignore=shutil.ignore_patterns(META))
