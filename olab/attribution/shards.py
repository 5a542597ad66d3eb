"""Feature shards on shared storage (fsspec): what Ray workers write and what scoring reads back.

A shard is rows [start, stop) of one ensemble member's train or target features: `<name>.npy` (float32
rows × k) and `<name>.stats.npz` (Q and the shard's ΦᵀΦ). Each file is written under a temporary name and
renamed, the stats last, so a shard counts as done only once both are whole: nothing half-written is read.
A job's shards live in a folder named by the hash of everything that determines them, so an interrupted job
finds its finished shards and a changed input starts afresh.
"""

from __future__ import annotations

import contextlib
import io
import json
import uuid
from dataclasses import dataclass

import fsspec
import numpy as np
from numpy.lib import format as npy_format

from olab.errors import OlabError

STATS = ".stats.npz"


def shard_rows(shard_size: int, batch_size: int) -> int:
    """Rows per shard: `shard_size` rounded up to whole batches, so a shard's batches are the local run's batches."""
    return -(-shard_size // batch_size) * batch_size


def shard_bounds(n: int, rows: int) -> list[tuple[int, int]]:
    return [(start, min(n, start + rows)) for start in range(0, n, rows)]


def shard_name(member: int, which: str, index: int) -> str:
    return f"m{member:03d}-{which}-{index:06d}"


class ShardStore:
    """One job's shards under an fsspec URL (a local folder, s3://..., gs://...)."""

    def __init__(self, url: str):
        self.url = url.rstrip("/")
        self.fs, self.root = fsspec.core.url_to_fs(self.url)

    def _put(self, path: str, data: bytes) -> None:
        tmp = f"{path.rsplit('/', 1)[0]}/.{uuid.uuid4().hex}.tmp"
        with self.fs.open(tmp, "wb") as f:
            f.write(data)
        self.fs.mv(tmp, path)

    def write(self, name: str, features_npy: bytes, q: np.ndarray, gram: np.ndarray, info: dict) -> None:
        """Store one shard: its features (the bytes of a float32 .npy), Q, ΦᵀΦ and `info` (JSON), stats last."""
        self.fs.makedirs(self.root, exist_ok=True)
        self._put(f"{self.root}/{name}.npy", features_npy)
        buf = io.BytesIO()
        np.savez(buf, q=q, gram=gram, info=np.array(json.dumps(info)))
        self._put(f"{self.root}/{name}{STATS}", buf.getvalue())

    def done(self) -> set[str]:
        """Names of the complete shards."""
        if not self.fs.exists(self.root):
            return set()
        return {p.rsplit("/", 1)[-1].removesuffix(STATS) for p in self.fs.glob(f"{self.root}/*{STATS}")}

    def stats(self, name: str) -> tuple[np.ndarray, np.ndarray, dict]:
        """(Q, ΦᵀΦ, info) of one shard."""
        with self.fs.open(f"{self.root}/{name}{STATS}", "rb") as f:
            data = np.load(io.BytesIO(f.read()))
            return data["q"], data["gram"], json.loads(str(data["info"]))

    def rows(self, name: str, start: int, stop: int) -> np.ndarray:
        """Rows start..stop of one shard's features, read without loading the rest."""
        with self.fs.open(f"{self.root}/{name}.npy", "rb") as f:
            version = npy_format.read_magic(f)
            header = npy_format.read_array_header_1_0 if version == (1, 0) else npy_format.read_array_header_2_0
            shape, _, _ = header(f)
            k = shape[1]
            f.seek(f.tell() + start * k * 4)
            raw = f.read((stop - start) * k * 4)
        if len(raw) != (stop - start) * k * 4:
            raise OlabError(f"shard {self.url}/{name}.npy is truncated: rows {start}..{stop} are missing")
        return np.frombuffer(raw, dtype=np.float32).reshape(stop - start, k).copy()

    def remove(self) -> None:
        """Delete this job's shards, and the folder holding jobs if nothing else is left in it."""
        if self.fs.exists(self.root):
            self.fs.rm(self.root, recursive=True)
        parent = self.root.rsplit("/", 1)[0]
        with contextlib.suppress(OSError):
            if self.fs.isdir(parent) and not self.fs.ls(parent):
                self.fs.rmdir(parent)


@dataclass
class ShardedRows:
    """One member's train or target features spread over shards, read by row range like `NpyRows`."""

    store: ShardStore
    member: int
    which: str
    n: int
    rows_per_shard: int

    def read(self, start: int, stop: int) -> np.ndarray:
        parts = []
        for index in range(start // self.rows_per_shard, (stop - 1) // self.rows_per_shard + 1):
            base = index * self.rows_per_shard
            lo, hi = max(start, base) - base, min(stop, base + self.rows_per_shard) - base
            parts.append(self.store.rows(shard_name(self.member, self.which, index), lo, hi))
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def array(self) -> np.ndarray:
        return self.read(0, self.n)
