"""Where a Datanet's files live: a local directory or any fsspec URL (file://, memory://, s3://, ...).

Layout (defined here and nowhere else)::

    <path>/v0001/{records.parquet, manifest.json, tree.json, rejections.jsonl}   one directory per version
    <path>/README.md                                                            dataset card: load_dataset(<path>)
    <path>/submissions/<batch id>.json                                          signed batches and their status
    <path>/submissions/unverified-<hash>.json                                   batches whose signature failed
    <path>/.olab-writer.lock, <path>/.olab-commit.lock                          writers' locks (local Datanets)

A version directory appears complete or not at all: locally it is written with `olab.io.atomic_dir`;
on other filesystems it is written under a hidden temporary name and moved into place, and a directory
without `manifest.json` (written last) is ignored.

Writers (build, submit, approve, reject) hold `Storage.writer()`, a lock file in a local Datanet's
directory, from reading the latest version to committing the next one, so concurrent writers queue
instead of both writing "the next version". Other filesystems have no such lock: there a concurrent
writer gets "already exists" instead.
"""

from __future__ import annotations

import json
import re
import uuid
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import fsspec
from filelock import FileLock
from fsspec.implementations.local import LocalFileSystem

from olab.errors import DatanetError
from olab.io import atomic_dir, atomic_write_bytes

RECORDS, MANIFEST, TREE, REJECTIONS = "records.parquet", "manifest.json", "tree.json", "rejections.jsonl"
SUBMISSIONS = "submissions"
WRITER_LOCK = ".olab-writer.lock"
_VERSION_DIR = re.compile(r"^v(\d{4,})$")


def version_dirname(version: int) -> str:
    return f"v{version:04d}"


def parse_version_dir(path: str) -> tuple[str, int] | None:
    """(`datanet path`, `version`) when `path` names a version directory such as datanets/x/v0002."""
    head, _, tail = path.rstrip("/").rpartition("/")
    m = _VERSION_DIR.match(tail)
    return (head, int(m.group(1))) if m and head else None


class Storage:
    """The files of one Datanet, addressed relative to its directory."""

    def __init__(self, path: str | Path):
        self.path = str(path).rstrip("/") or "/"
        self.fs, self.root = fsspec.core.url_to_fs(self.path)
        self.local = isinstance(self.fs, LocalFileSystem)

    def _abs(self, rel: str) -> str:
        return f"{self.root}/{rel}"

    def writer(self) -> AbstractContextManager[Any]:
        """The lock a writer holds from reading the latest version to committing the next (local only)."""
        if not self.local:
            return nullcontext()
        try:
            Path(self.root).mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise DatanetError(
                f"cannot create the Datanet directory {self.path}: {e.strerror or e} (check datanet.root_dir)"
            ) from None
        return FileLock(self._abs(WRITER_LOCK))

    def versions(self) -> list[int]:
        """Complete versions (those with a manifest), ascending."""
        if not self.fs.isdir(self.root):
            return []
        found = []
        for entry in self.fs.ls(self.root, detail=False):
            m = _VERSION_DIR.match(entry.rstrip("/").rpartition("/")[2])
            if m and self.fs.exists(f"{entry.rstrip('/')}/{MANIFEST}"):
                found.append(int(m.group(1)))
        return sorted(found)

    def exists(self, rel: str) -> bool:
        return self.fs.exists(self._abs(rel))

    def read_bytes(self, rel: str) -> bytes:
        try:
            return self.fs.cat_file(self._abs(rel))
        except FileNotFoundError as e:
            raise DatanetError(f"{self.path}/{rel} is missing") from e

    def read_json(self, rel: str) -> Any:
        try:
            return json.loads(self.read_bytes(rel))
        except json.JSONDecodeError as e:
            raise DatanetError(f"{self.path}/{rel} is not valid JSON: {e}") from e

    def open(self, rel: str, mode: str = "rb") -> Any:
        return self.fs.open(self._abs(rel), mode)

    def write_bytes(self, rel: str, data: bytes) -> None:
        """Write one file atomically (a temporary name, then a rename)."""
        if self.local:
            atomic_write_bytes(self._abs(rel), data)
            return
        tmp = self._abs(f"{rel}.{uuid.uuid4().hex}.tmp")
        self.fs.pipe_file(tmp, data)
        self.fs.mv(tmp, self._abs(rel))

    def write_json(self, rel: str, obj: Any) -> None:
        self.write_bytes(rel, (json.dumps(obj, indent=2, ensure_ascii=False) + "\n").encode())

    def list(self, rel: str) -> list[str]:
        """File names directly under `rel` (empty if it does not exist)."""
        if not self.fs.isdir(self._abs(rel)):
            return []
        return sorted(p.rstrip("/").rpartition("/")[2] for p in self.fs.ls(self._abs(rel), detail=False))

    def write_version(self, version: int, files: dict[str, bytes]) -> None:
        """Create version directory `version` holding `files`, all at once; the manifest is written last."""
        name = version_dirname(version)
        ordered = sorted(files, key=lambda f: f == MANIFEST)
        if self.local:
            try:
                with atomic_dir(self._abs(name)) as tmp:
                    for f in ordered:
                        (tmp / f).write_bytes(files[f])
            except FileExistsError as e:
                raise DatanetError(
                    f"{self.path}/{name} already exists (written concurrently?); open the Datanet again"
                ) from e
            except OSError as e:
                raise DatanetError(f"cannot write {self.path}/{name}: {e.strerror or e}") from e
            return
        if self.fs.exists(self._abs(name)):
            raise DatanetError(f"{self.path}/{name} already exists (written concurrently?); open the Datanet again")
        tmp = self._abs(f".{name}.{uuid.uuid4().hex}.tmp")
        try:
            for f in ordered:
                self.fs.pipe_file(f"{tmp}/{f}", files[f])
            self.fs.mv(tmp, self._abs(name), recursive=True)
        except BaseException:
            if self.fs.exists(tmp):
                self.fs.rm(tmp, recursive=True)
            raise
