"""Commit a Datanet version: hash the records, build the Merkle tree, write records.parquet, tree.json,
rejections.jsonl and manifest.json in one atomic step.
"""

from __future__ import annotations

import io
import json
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from tqdm.auto import tqdm

import olab
from olab.datanet.hub import write_card
from olab.datanet.records import LEAF_ENCODING, RECORD_HASH_SPEC, build_tree, record_hash
from olab.datanet.storage import MANIFEST, RECORDS, REJECTIONS, TREE, Storage
from olab.hashing import canonical_json, sha256_bytes

FORMAT = "olab.datanet/v1"
SCHEMA = pa.schema(
    [
        pa.field("record_id", pa.string(), nullable=False),
        pa.field("record_hash", pa.string(), nullable=False),
        pa.field("contributor", pa.string(), nullable=False),
        pa.field("text", pa.string(), nullable=False),
        pa.field("label", pa.string(), nullable=False),
        pa.field("injected", pa.string()),
        pa.field("original_label", pa.string()),
        pa.field("version_added", pa.int32(), nullable=False),
        pa.field("batch_id", pa.string()),
        pa.field("near_duplicate_of", pa.string()),  # a near-copy's original record id (its credit goes there)
    ]
)
COLUMNS = SCHEMA.names
OPTIONAL_COLUMNS = ("near_duplicate_of",)  # absent from Datanets written before it existed: read as nulls


def hash_records(columns: dict[str, Sequence[Any]], *, progress: bool = False) -> list[str]:
    """The record hash of every row (with a progress bar on long work)."""
    rows = zip(columns["record_id"], columns["text"], columns["label"], strict=True)
    total = len(columns["record_id"])
    return [
        record_hash(*row)
        for row in tqdm(rows, total=total, desc="hashing records", unit="rec", disable=not progress, leave=False)
    ]


def contributor_entries(
    base: Sequence[dict[str, Any]], contributors: Sequence[str], injected: Sequence[str | None]
) -> list[dict[str, Any]]:
    """Per-contributor manifest entries: the static facts in `base` plus record and injected counts."""
    counts = Counter(contributors)
    kinds: dict[str, Counter[str]] = {}
    for address, kind in zip(contributors, injected, strict=True):
        if kind:
            kinds.setdefault(address, Counter())[kind] += 1
    entries = {e["address"]: dict(e) for e in base}
    for address in counts:
        entries.setdefault(address, {"address": address, "behaviour": None, "rate": None})
    for address, entry in entries.items():
        entry["records"] = counts.get(address, 0)
        entry["injected"] = dict(sorted(kinds.get(address, Counter()).items()))
    return sorted(entries.values(), key=lambda e: (e.get("index", 1 << 30), e["address"]))


def commit(
    storage: Storage,
    *,
    version: int,
    parent: dict[str, Any] | None,
    columns: dict[str, list[Any]],
    rejections: list[dict[str, Any]],
    meta: dict[str, Any],
    progress: bool = False,
) -> dict[str, Any]:
    """Write version `version` of the Datanet in `storage` and return its manifest.

    `columns` holds every SCHEMA column but record_hash; `meta` the manifest fields that describe the
    change (name, labels, config, source, contributors base entries, change, ...).
    """
    hashes = hash_records(columns, progress=progress)
    tree = build_tree(hashes, columns["contributor"]) if hashes else None
    table = pa.table({**columns, "record_hash": hashes}, schema=SCHEMA) if hashes else SCHEMA.empty_table()
    buf = io.BytesIO()
    pq.write_table(table, buf)
    files = {
        RECORDS: buf.getvalue(),
        TREE: json.dumps(tree.dump() if tree else None).encode(),
        REJECTIONS: b"".join(canonical_json(r) + b"\n" for r in rejections),
    }
    manifest = {
        "format": FORMAT,
        "olab_version": olab.__version__,
        **meta,
        "version": version,
        "parent_version": parent["version"] if parent else None,
        "parent_root": parent["merkle_root"] if parent else None,
        "merkle_root": tree.root_hex if tree else None,
        "leaf_encoding": LEAF_ENCODING,
        "record_hash_encoding": RECORD_HASH_SPEC,
        "record_count": len(hashes),
        "rejected_count": len(rejections),
        "contributors": contributor_entries(meta.get("contributors", []), columns["contributor"], columns["injected"]),
        "schema": {f.name: str(f.type) for f in SCHEMA},
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "files": {name: sha256_bytes(data) for name, data in files.items()},
    }
    manifest["ground_truth"] = {
        **meta.get("ground_truth", {}),
        "injected_records": dict(sorted(Counter(k for k in columns["injected"] if k).items())),
    }
    files[MANIFEST] = (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode()
    storage.write_version(version, files)
    write_card(storage)
    return manifest
