"""`Datanet`: a versioned dataset in which every record is tied to its contributor and committed to by a
Merkle root. Build one from a config, open it, prove and verify records, take signed contributions.

Every change is a new, append-only version directory (see `storage` for the layout, `records` for what
the root commits to). Building again from identical inputs returns the existing version untouched.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import datasets
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from datasets.table import InMemoryTable
from tqdm.auto import tqdm

from olab.config import config_hash, deep_merge, read_yaml, validate
from olab.datanet import build as importer
from olab.datanet import hub, intake
from olab.datanet.config import DatanetConfig
from olab.datanet.consistency import manifest_problems
from olab.datanet.contributions import SignedBatch
from olab.datanet.logcheck import log_problems
from olab.datanet.records import LEAF_ENCODING, build_tree, record_hash, verify_record_proof
from olab.datanet.sources import load_source
from olab.datanet.storage import MANIFEST, RECORDS, REJECTIONS, TREE, Storage, parse_version_dir, version_dirname
from olab.datanet.submissions import SubmissionLog, SubmitResult
from olab.datanet.versions import COLUMNS, OPTIONAL_COLUMNS, SCHEMA, commit
from olab.errors import DatanetError, DatanetVerificationError
from olab.hashing import hash_json, sha256_bytes
from olab.merkle import StandardMerkleTree


def resolve_config(
    config: DatanetConfig | Mapping[str, Any] | str | Path, overrides: Mapping[str, Any] | None = None
) -> DatanetConfig:
    """A DatanetConfig from a model, a mapping or a YAML file (a Datanet section, or a run config's `datanet:`)."""
    extra = dict(overrides or {})
    if isinstance(config, DatanetConfig):
        return validate(DatanetConfig, deep_merge(config.model_dump(), extra)) if extra else config
    if isinstance(config, Mapping):
        return validate(DatanetConfig, deep_merge(dict(config), extra))
    data, source = deep_merge(read_yaml(config), extra), str(config)
    if isinstance(data.get("datanet"), dict) and not {"name", "source"} & set(data):
        data, source = data["datanet"], f"{config} (datanet section)"
    return validate(DatanetConfig, data, source)


class Datanet:
    """One version of a Datanet. `Datanet.build(config)` or `Datanet.open(path)`; never constructed directly."""

    def __init__(self, storage: Storage, version: int, manifest: dict[str, Any]):
        self._storage = storage
        self._version = version
        self._manifest = manifest
        self._table: pa.Table | None = None
        self._tree: StandardMerkleTree | None = None
        self._rows: dict[str, int] | None = None
        self.reused = False  # set by `build` when it returned an existing version instead of writing one

    # --- making and opening ------------------------------------------------------------------------

    @classmethod
    def build(
        cls,
        config_or_path: DatanetConfig | Mapping[str, Any] | str | Path,
        *,
        dataset: datasets.Dataset | datasets.DatasetDict | None = None,
        progress: bool = True,
        overrides: Mapping[str, Any] | None = None,
    ) -> Datanet:
        """Build the Datanet a config describes (from `dataset` instead of `source` when given).

        The first build writes version 1. If an existing version (latest first) was built from the same
        config and source content, it is returned untouched; otherwise the import becomes a new version.
        """
        cfg = resolve_config(config_or_path, overrides)
        storage = Storage(cfg.path)
        data = load_source(cfg.source, cfg.columns, dataset).to_dict()
        source = importer.source_info(cfg, data, dataset)
        wanted = importer.build_hash(cfg, source)
        if (found := cls._built(storage, wanted)) is not None:
            return found
        draft = importer.prepare(cfg, data, source, progress=progress)
        if not draft.columns["record_id"]:
            shown = "; ".join(r.reason for r in draft.rejections[:3])
            raise DatanetError(
                f"no record of {cfg.source.kind} source passed validation ({len(draft.rejections)} rejected: {shown} ...)"
            )
        with storage.writer():  # another process may have built it (or another version) meanwhile
            if (found := cls._built(storage, wanted)) is not None:
                return found
            return cls(storage, *cls._commit_build(cfg, storage, draft, progress))

    @classmethod
    def _built(cls, storage: Storage, build_hash: str) -> Datanet | None:
        """The existing version (latest first) built from the same config and source content, if any."""
        for v in reversed(storage.versions()):
            manifest = storage.read_json(f"{version_dirname(v)}/{MANIFEST}")
            if manifest.get("build_hash") == build_hash:
                found = cls(storage, v, manifest)
                found.reused = True
                return found
        return None

    @staticmethod
    def _commit_build(cfg: DatanetConfig, storage: Storage, draft: Any, progress: bool) -> tuple[int, dict[str, Any]]:
        """Write `draft` as the next version; returns (version, manifest)."""
        n, versions = len(draft.columns["record_id"]), storage.versions()
        version = (versions[-1] + 1) if versions else 1
        parent = storage.read_json(f"{version_dirname(versions[-1])}/{MANIFEST}") if versions else None
        columns = {**draft.columns, "version_added": [version] * n, "batch_id": [None] * n}
        meta = {
            "name": cfg.name,
            "labels": draft.labels,
            "config": cfg.model_dump(mode="json"),
            "config_hash": config_hash(cfg),
            "build_hash": draft.build_hash,
            "source": draft.source,
            "contributors": draft.contributors,
            "ground_truth": draft.ground_truth,
            "policy": cfg.policy,
            "chain_id": cfg.chain_id,
            "next_record_number": draft.next_record_number,
            "change": {"kind": "build", "added": n, "rejected": len(draft.rejections)},
        }
        rejections = [r.to_json() for r in draft.rejections]
        manifest = commit(
            storage, version=version, parent=parent, columns=columns, rejections=rejections, meta=meta, progress=progress
        )  # fmt: skip
        return version, manifest

    @classmethod
    def open(cls, path: str | Path, version: int | None = None) -> Datanet:
        """Open the Datanet at `path` (a directory or fsspec URL; or a version directory such as .../v0002)."""
        path = str(path)
        storage = Storage(path)
        versions = storage.versions()
        if not versions and (parsed := parse_version_dir(path)) is not None:
            storage, version = Storage(parsed[0]), version or parsed[1]
            versions = storage.versions()
        if not versions:
            raise DatanetError(
                f"no Datanet at {path}: no version directory with a {MANIFEST}; build one with `olab datanet build CONFIG`"
            )
        version = versions[-1] if version is None else int(version)
        if version not in versions:
            raise DatanetError(f"{storage.path} has no version {version}; its versions are {versions}")
        return cls(storage, version, storage.read_json(f"{version_dirname(version)}/{MANIFEST}"))

    def _latest(self) -> Datanet:
        return Datanet.open(self.path)

    def _become(self, other: Datanet) -> None:
        self.__init__(other._storage, other._version, other._manifest)  # type: ignore[misc]

    # --- what it is ----------------------------------------------------------------------------------

    @property
    def path(self) -> str:
        return self._storage.path

    @property
    def name(self) -> str:
        return self._manifest["name"]

    @property
    def version(self) -> int:
        return self._version

    @property
    def versions(self) -> list[int]:
        return self._storage.versions()

    @property
    def root(self) -> str:
        """The Merkle root (0x-hex) this version commits to."""
        return self._manifest["merkle_root"]

    @property
    def manifest(self) -> dict[str, Any]:
        return self._manifest

    @property
    def genesis_root(self) -> str:
        """The Merkle root of version 1: with the name and chain id, this Datanet's identity in signatures."""
        if self.version == 1:
            return self.root
        return self._storage.read_json(self._rel(MANIFEST, 1))["merkle_root"]

    @property
    def signing_domain(self) -> dict[str, Any]:
        """What a contributor's signature binds (`sign_batch(account, dn, ...)` reads it): name, chain, genesis root."""
        return {"datanet": self.name, "chain_id": self._manifest["chain_id"], "genesis_root": self.genesis_root}

    @property
    def metadata_hash(self) -> str:
        """The hash registered on chain for this version: its manifest without the `created` timestamp, so a
        version rebuilt identically has the same hash and can be published again."""
        return hash_json({k: v for k, v in self._manifest.items() if k != "created"})

    @property
    def config(self) -> DatanetConfig:
        return DatanetConfig.model_validate(self._manifest["config"])

    @property
    def labels(self) -> list[str]:
        return list(self._manifest["labels"])

    @property
    def contributors(self) -> list[dict[str, Any]]:
        """Per contributor: address, records, behaviour, rate, injected counts (and index or name)."""
        return self._manifest["contributors"]

    def __len__(self) -> int:
        return self._manifest["record_count"]

    def __repr__(self) -> str:
        return f"Datanet({self.path!r}, version={self.version}, records={len(self)}, root={self.root})"

    def _rel(self, name: str, version: int | None = None) -> str:
        return f"{version_dirname(version or self.version)}/{name}"

    # --- records -------------------------------------------------------------------------------------

    def _read_table(self, version: int | None = None) -> pa.Table:
        data = self._storage.read_bytes(self._rel(RECORDS, version))
        try:
            # one thread: a Datanet's table is small, and an Arrow thread pool left alive at interpreter exit can abort
            # a finished command ("terminate called without an active exception", exit 134: apache/arrow#34314)
            table = pq.read_table(io.BytesIO(data), use_threads=False)
        except (pa.ArrowException, OSError) as e:
            raise DatanetError(
                f"{self.path}/{self._rel(RECORDS, version)} cannot be read as Parquet ({e}); the file is damaged"
            ) from e
        for name in OPTIONAL_COLUMNS:
            if name not in table.column_names:
                table = table.append_column(SCHEMA.field(name), pa.nulls(table.num_rows, SCHEMA.field(name).type))
        missing = [c for c in COLUMNS if c not in table.column_names]
        if missing:
            raise DatanetError(f"{self.path}/{self._rel(RECORDS, version)} lacks the columns {missing}")
        return table

    @property
    def table(self) -> pa.Table:
        """The records as a pyarrow Table (read once)."""
        if self._table is None:
            self._table = self._read_table()
        return self._table

    @property
    def records(self) -> datasets.Dataset:
        return self.to_hf()

    def to_hf(self) -> datasets.Dataset:
        """The records as a `datasets.Dataset` (columns record_id, record_hash, contributor, text, label, ...), as
        `load_dataset(<datanet dir>)` reads them: `label` a `ClassLabel` over the Datanet's label names
        (`ds.features["label"].int2str`), except for instruction records, whose responses stay text."""
        table, instructions = self.table, self.config.instructions
        if not instructions:
            ids = pc.index_in(table.column("label"), value_set=pa.array(self.labels, pa.string())).cast(pa.int64())
            table = table.set_column(table.schema.get_field_index("label"), "label", ids)
        info = datasets.DatasetInfo(features=hub.features(table.schema, self.labels, instructions))
        return datasets.Dataset(InMemoryTable(table), info=info)

    def to_pandas(self) -> pd.DataFrame:
        return self.table.to_pandas(use_threads=False)  # see _read_table

    def rejections(self, version: int | None = None) -> list[dict[str, Any]]:
        """The records rejected when `version` (default: this one) was made, each with its rule and reason."""
        text = self._storage.read_bytes(self._rel(REJECTIONS, version)).decode()
        return [json.loads(line) for line in text.splitlines() if line]

    # --- proofs and verification ---------------------------------------------------------------------

    def _row(self, record_id: str) -> int:
        row = self._index().get(str(record_id))
        if row is None:
            raise DatanetError(
                f"{self.path} version {self.version} has no record {record_id!r} (ids look like {self._example_ids()})"
            )
        return row

    def _index(self) -> dict[str, int]:
        if self._rows is None:
            self._rows = {rid: i for i, rid in enumerate(self.table.column("record_id").to_pylist())}
        return self._rows

    def _merkle(self) -> StandardMerkleTree:
        if self._tree is None:
            self._tree = build_tree(
                self.table.column("record_hash").to_pylist(), self.table.column("contributor").to_pylist()
            )
        return self._tree

    def label_mix(self, contributor: str | None = None) -> pd.DataFrame:
        """Records per label for each contributor (rows; short addresses) or for one `contributor`."""
        from olab.names import short_address

        records = self.to_pandas()
        if contributor:
            records = records[records.contributor.str.lower() == contributor.lower()]
        return pd.crosstab(records.contributor.map(short_address), records.label)

    def record(self, record_id: str) -> dict[str, Any]:
        """One record (record_id, contributor, text, label, ...) of this version."""
        row = self._row(record_id)
        return self.table.slice(row, 1).to_pylist()[0]

    def proof(self, record_id: str) -> dict[str, Any]:
        """A JSON-able inclusion proof of `record_id` against this version's root (check with `verify_proof`)."""
        row = self._row(record_id)
        tree = self._merkle()
        return {
            "datanet": self.name,
            "version": self.version,
            "record_id": str(record_id),
            "record_hash": self.table.column("record_hash")[row].as_py(),
            "contributor": self.table.column("contributor")[row].as_py(),
            "root": self.root,
            "leaf_encoding": LEAF_ENCODING,
            "leaf": "0x" + tree.leaf(row).hex(),
            "proof": tree.proof(row),
        }

    def _example_ids(self) -> str:
        ids = self.table.column("record_id").slice(0, 3).to_pylist()
        return ", ".join(ids) + (", ..." if len(self) > 3 else "")

    verify_proof = staticmethod(verify_record_proof)

    def verify(self, *, progress: bool = False) -> dict[str, Any]:
        """Recompute every record hash and the Merkle root from the stored data; raise DatanetVerificationError naming the
        first record (or file) that does not match what this version committed to (a damaged or missing file too)."""
        try:
            return self._verify(progress)
        except DatanetVerificationError:
            raise
        except (DatanetError, ValueError, KeyError, TypeError) as e:  # a file unreadable or not in its format
            raise DatanetVerificationError(f"{self.path} version {self.version}: {e}") from None

    def _verify(self, progress: bool) -> dict[str, Any]:
        where = f"{self.path} version {self.version}"
        table = self._read_table()
        ids, texts, labels, stored, contributors = (
            table.column(c).to_pylist() for c in ("record_id", "text", "label", "record_hash", "contributor")
        )
        for i in tqdm(range(len(ids)), desc="verifying records", unit="rec", disable=not progress, leave=False):
            try:
                h = record_hash(ids[i], texts[i], labels[i])
            except TypeError as e:
                raise DatanetVerificationError(f"{where}: record {ids[i]!r} (row {i}) is malformed: {e}") from e
            if h != stored[i]:
                raise DatanetVerificationError(
                    f"{where}: record {ids[i]!r} (row {i}) was changed: its fields hash to {h}, "
                    f"but the committed record_hash is {stored[i]}"
                )
        dump = self._storage.read_json(self._rel(TREE))
        values = dump.get("values", []) if isinstance(dump, dict) else []
        if len(values) != len(ids):
            raise DatanetVerificationError(
                f"{where}: tree.json commits to {len(values)} records but records.parquet holds {len(ids)}"
            )
        for i, entry in enumerate(values):
            committed = [str(x).lower() for x in entry["value"]]
            if committed != [stored[i].lower(), str(contributors[i]).lower()]:
                raise DatanetVerificationError(
                    f"{where}: record {ids[i]!r} (row {i}) does not match its committed leaf: stored "
                    f"({stored[i]}, {contributors[i]}), tree.json ({', '.join(entry['value'])})"
                )
        root = build_tree(stored, contributors).root_hex if ids else None
        if root != self.root:
            raise DatanetVerificationError(
                f"{where}: the records' Merkle root is {root}, but the manifest commits to {self.root}"
            )
        if dump["tree"][0] != self.root:
            raise DatanetVerificationError(
                f"{where}: tree.json's root {dump['tree'][0]} differs from the manifest's {self.root}"
            )
        for name, want in self._manifest.get("files", {}).items():
            got = sha256_bytes(self._storage.read_bytes(self._rel(name)))
            if got != want:
                raise DatanetVerificationError(
                    f"{where}: {name} hashes to {got}, not the committed {want} (every record hash and the root match, "
                    "so a field outside the commitment changed: injected, original_label, version_added, batch_id or "
                    "near_duplicate_of)"
                )
        self._verify_manifest(where, table)
        if problems := log_problems(self, table):
            shown = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
            raise DatanetVerificationError(f"{where}: the contribution log (submissions/) does not hold: {shown}")
        return {"path": self.path, "version": self.version, "root": self.root, "records": len(ids), "ok": True}

    def _verify_manifest(self, where: str, table: pa.Table) -> None:
        """The version directory holds only its four files, and its manifest follows from them (see `consistency`)."""
        extra = sorted(set(self._storage.list(version_dirname(self.version))) - {RECORDS, TREE, REJECTIONS, MANIFEST})
        if extra:
            raise DatanetVerificationError(
                f"{where}: {', '.join(extra)} is not part of the version (no hash covers it)"
            )
        earlier = [v for v in self.versions if v < self.version]
        parent = self._storage.read_json(self._rel(MANIFEST, earlier[-1])) if earlier else None
        schema = {f.name: str(f.type) for f in SCHEMA}
        problems = manifest_problems(self._manifest, self.version, table, len(self.rejections()), parent, schema)
        if problems:
            raise DatanetVerificationError(
                f"{where}: manifest.json does not follow from its records and config: {'; '.join(problems)}"
            )
        if self._storage.exists(hub.CARD):  # what `load_dataset(<path>)` reads: its label names must be the versions'
            manifests = [self._storage.read_json(self._rel(MANIFEST, v)) for v in self.versions]
            if self._storage.read_bytes(hub.CARD) != hub.dataset_card(manifests).encode():
                raise DatanetVerificationError(
                    f"{self.path}/{hub.CARD}, the dataset card load_dataset reads, is not the one its versions' "
                    "manifests give (rewrite it with olab.datanet.hub.write_card)"
                )

    # --- contributions (see `intake`) -------------------------------------------------------------

    @property
    def storage(self) -> Storage:
        return self._storage

    @property
    def submissions(self) -> SubmissionLog:
        """The log of signed batches this Datanet has seen, with their status."""
        return SubmissionLog(self._storage)

    def submit(self, batch: SignedBatch | Mapping[str, Any]) -> SubmitResult:
        """Take a signed batch: rejected (bad signature, replay, nothing valid), pending (policy review), or
        accepted into a new version (this object then shows that version)."""
        batch = batch if isinstance(batch, SignedBatch) else SignedBatch.from_json(batch)
        with self._storage.writer():
            return self._follow(intake.submit(self._latest(), batch))

    def pending(self) -> list[dict[str, Any]]:
        """Batches held for review: batch_id, signer, nonce, record count, submitted time."""
        return [
            {k: e[k] for k in ("batch_id", "signer", "nonce", "submitted")} | {"records": len(e["batch"]["records"])}
            for e in self.submissions.entries()
            if e["status"] == "pending"
        ]

    def approve(self, batch_id: str) -> SubmitResult:
        """Accept a pending batch: validate it against the latest version and commit a new version."""
        with self._storage.writer():
            entry = intake.pending_entry(self, batch_id)
            return self._follow(intake.apply_batch(self._latest(), entry))

    def reject(self, batch_id: str, reason: str = "") -> SubmitResult:
        """Refuse a pending batch; it stays in the log with the owner's reason."""
        with self._storage.writer():
            return intake.reject(self._latest(), batch_id, reason)

    def _follow(self, result: SubmitResult) -> SubmitResult:
        if result.version is not None:
            self._become(Datanet.open(self.path, result.version))
        return result

    # --- history -------------------------------------------------------------------------------------

    def diff(self, a: int, b: int | None = None) -> dict[str, Any]:
        """What changed from version `a` to `b` (default: this one), by contributor: records added and removed
        (compared by their committed leaf) and records rejected on the way."""
        b = self.version if b is None else b
        if a > b:
            raise DatanetError(f"diff needs an earlier version first: got {a} > {b}")
        for v in (a, b):
            if v not in self.versions:
                raise DatanetError(f"{self.path} has no version {v}; its versions are {self.versions}")
        ta, tb = self._read_table(a), self._read_table(b)

        def leaves(t: pa.Table) -> dict[tuple[str, str], str]:
            cols = [t.column(c).to_pylist() for c in ("record_hash", "contributor", "record_id")]
            return {(h, c): rid for h, c, rid in zip(*cols, strict=True)}

        la, lb = leaves(ta), leaves(tb)
        added: dict[str, list[str]] = {}
        removed: dict[str, list[str]] = {}
        for key, rid in lb.items():
            if key not in la:
                added.setdefault(key[1], []).append(rid)
        for key, rid in la.items():
            if key not in lb:
                removed.setdefault(key[1], []).append(rid)
        rejected: dict[str, list[dict[str, Any]]] = {}
        for v in range(a + 1, b + 1):
            for r in self.rejections(v):
                rejected.setdefault(r.get("contributor") or "unknown", []).append(r | {"version": v})
        latest = self.versions[-1]
        for e in self.submissions.entries():
            decided = e.get("decided_at_version", -1)
            if e["status"] == "rejected" and (a <= decided < b or decided == b == latest):
                for r in e.get("rejections") or [{"index": None, "rule": "batch", "reason": e["reason"]}]:
                    rejected.setdefault(e["signer"], []).append(r | {"batch_id": e["batch_id"]})
        return {"from": a, "to": b, "added": added, "removed": removed, "rejected": rejected}

    # --- sharing (see `hub`) -------------------------------------------------------------------------

    def export_hub_folder(self, dest: str | Path) -> Path:
        """Write what `push_to_hub` uploads: this version's files under vNNNN/ and a dataset card whose
        `configs` make `datasets.load_dataset(<repo or folder>)` read the records."""
        return hub.export_folder(self, dest)

    def push_to_hub(
        self,
        repo_id: str,
        *,
        token: str | None = None,
        private: bool | None = None,
        commit_message: str | None = None,
        endpoint: str | None = None,
    ) -> str:
        """Upload this version (records, manifest, tree, rejections, card) to a Hub dataset repo; returns the
        commit URL. `endpoint` selects another Hub deployment (default: huggingface.co or $HF_ENDPOINT)."""
        return hub.push(self, repo_id, commit_message, token=token, private=private, endpoint=endpoint)
