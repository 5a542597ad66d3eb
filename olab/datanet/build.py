"""Turn a config (and optionally an in-memory dataset) into the records of a Datanet's import version.

Steps: load and normalise the source, settle the label set, give every row a contributor address
(from the column or simulated, with injected behaviours), then validate row by row. The owner's import
is trusted and unsigned; later contributions arrive as signed batches (`contributions`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tqdm.auto import tqdm

from olab.config import config_hash
from olab.datanet import contributors as contrib
from olab.datanet.config import DatanetConfig
from olab.datanet.validation import RecordValidator, Rejection
from olab.datanet.versions import FORMAT
from olab.errors import ConfigError
from olab.hashing import hash_json


def auto_record_id(number: int) -> str:
    """The id of the `number`-th record a Datanet numbers itself (r000000, r000001, ...)."""
    return f"r{number:06d}"


@dataclass
class Draft:
    """An import, ready to be committed as a version."""

    columns: dict[str, list[Any]]
    rejections: list[Rejection]
    labels: list[str]
    contributors: list[dict[str, Any]]  # static facts per contributor (index, address, name, behaviour, rate)
    ground_truth: dict[str, Any]
    source: dict[str, Any]
    build_hash: str
    next_record_number: int = 0


def source_info(cfg: DatanetConfig, data: dict[str, list[Any]], dataset: Any) -> dict[str, Any]:
    """What the records came from, with a hash of their normalised content."""
    info: dict[str, Any] = cfg.source.model_dump(mode="json", exclude_none=True)
    if dataset is not None:
        info = {"kind": "memory", "split": cfg.source.split}
        for key in ("max_records", "shuffle_seed"):
            if getattr(cfg.source, key) is not None:
                info[key] = getattr(cfg.source, key)
    info["records"] = len(data["text"])
    info["content_hash"] = hash_json({k: data[k] for k in sorted(data)})
    return info


def build_hash(cfg: DatanetConfig, source: dict[str, Any]) -> str:
    """Identifies an import: the config (wherever it is stored) and the source's content."""
    portable = cfg.model_copy(update={"root_dir": ""})
    return hash_json({"format": FORMAT, "config": config_hash(portable), "source": source})


def prepare(cfg: DatanetConfig, data: dict[str, list[Any]], source: dict[str, Any], *, progress: bool = True) -> Draft:
    """Assign contributors, inject behaviours and validate the loaded source's columns: the import's records."""
    texts, raw_labels = list(data["text"]), list(data["label"])
    named = cfg.columns.name_of_label()
    labels = (
        cfg.labels
        or (list(dict.fromkeys(named.values())) if named else None)
        or sorted({lab for lab in raw_labels if isinstance(lab, str) and lab})
    )
    if not labels:
        raise ConfigError("labels: the source has no labels; set datanet.labels or map columns.label to a label column")
    n = len(texts)

    contributors: list[str | None]
    entries: dict[str, dict[str, Any]] = {}
    names: dict[str, str] = {}
    ground_truth: dict[str, Any] = {"mode": cfg.contributors.mode}
    injected: list[str | None] = [None] * n
    original: list[str | None] = [None] * n
    bad_contributors: dict[int, str] = {}  # row -> why its contributor value is not an address
    if cfg.contributors.mode == "simulate":
        c = cfg.contributors
        accounts = [a.address for a in contrib.simulated_accounts(c.n, c.seed)]
        owners = contrib.assign(n, c)
        done = contrib.inject(texts, raw_labels, owners, c.behaviours, labels, c.seed)
        texts, raw_labels, injected, original = done.texts, done.labels, done.injected, done.original_label
        contributors = [accounts[o] for o in owners]
        behaviour = {b.contributor: b for b in c.behaviours}
        for i, address in enumerate(accounts):
            b = behaviour.get(i)
            entries[address] = {
                "index": i,
                "address": address,
                "behaviour": b.kind if b else "clean",
                "rate": b.rate if b else 0.0,
            }
        ground_truth |= {
            "seed": c.seed,
            "strategy": c.strategy,
            "n": c.n,
            "behaviours": [b.model_dump() for b in c.behaviours],
        }
    else:
        contributors = []
        for i, value in enumerate(data["contributor"]):
            value = None if value is None else str(value).strip()
            if not value or (problem := contrib.address_problem(value, cfg.contributors.names)) is not None:
                contributors.append(None)
                if value:
                    bad_contributors[i] = problem
                continue
            address = contrib.contributor_address(value)
            if not contrib.is_address(value):
                names[address] = value
            contributors.append(address)

    columns, rejections = _validate(
        cfg, data.get("id"), texts, raw_labels, contributors, injected, original, labels, progress, bad_contributors
    )
    for address, name in names.items():
        entries[address] = {"address": address, "name": name, "behaviour": None, "rate": None}
    base = sorted(entries.values(), key=lambda e: (e.get("index", 1 << 30), e["address"]))
    auto_ids = len(columns["record_id"]) if cfg.columns.id is None else 0
    return Draft(columns, rejections, labels, base, ground_truth, source, build_hash(cfg, source), auto_ids)


def _validate(
    cfg: DatanetConfig,
    ids: list[Any] | None,
    texts: list[Any],
    labels_in: list[Any],
    contributors: list[str | None],
    injected: list[str | None],
    original: list[str | None],
    labels: list[str],
    progress: bool,
    bad_contributors: dict[int, str],
) -> tuple[dict[str, list[Any]], list[Rejection]]:
    validator = RecordValidator(cfg.validation, labels)
    out: dict[str, list[Any]] = {
        k: [] for k in ("record_id", "contributor", "text", "label", "injected", "original_label", "near_duplicate_of")
    }
    rejections: list[Rejection] = []
    for i in tqdm(range(len(texts)), desc="validating records", unit="rec", disable=not progress, leave=False):
        record: dict[str, Any] = {"text": texts[i], "label": labels_in[i]}
        if ids is not None:
            record["id"] = ids[i]
        contributor = contributors[i]
        if i in bad_contributors:
            rejections.append(Rejection(i, "bad_contributor", f"row {i}: {bad_contributors[i]}", None, record))
            continue
        if contributor is None:
            rejections.append(
                Rejection(
                    i,
                    "missing_field",
                    f"row {i}: the contributor column {cfg.columns.contributor!r} is empty",
                    None,
                    record,
                )
            )
            continue
        if ids is not None:
            record_id = ids[i] if isinstance(ids[i], str) else None
            if record_id is not None and not record_id.strip():
                rejections.append(
                    Rejection(
                        i, "missing_field", f"row {i}: the id column {cfg.columns.id!r} is empty", contributor, record
                    )
                )
                continue
        else:
            record_id = auto_record_id(len(out["record_id"]))
        rejection = validator.check(i, record, contributor, record_id, where=f"row {i}")
        if rejection is not None:
            rejections.append(rejection)
            continue
        for key, value in (
            ("record_id", record_id),
            ("contributor", contributor),
            ("text", texts[i]),
            ("label", labels_in[i]),
            ("injected", injected[i]),
            ("original_label", original[i]),
            ("near_duplicate_of", validator.near_copies.get(record_id)),
        ):
            out[key].append(value)
    return out, rejections
