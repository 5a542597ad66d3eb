"""A Datanet version's manifest against what follows from its records, rejections, config and parent.

`Datanet.verify` calls `manifest_problems` after re-hashing the records: the label set, each contributor's
entry (behaviour, rate, records, injected counts), the ground truth, the counts and the fixed encodings must
be what the stored data and the recorded config give. What cannot be recomputed from them (the source's
description, the build hash, the change note) is bound by the version's `metadata_hash`, which every run
records and the Datanet registry holds on chain (see `olab.pipeline.coverage`).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pyarrow as pa

from olab.datanet.config import DatanetConfig
from olab.datanet.contributors import address_for_name, simulated_accounts
from olab.datanet.records import LEAF_ENCODING, RECORD_HASH_SPEC
from olab.hashing import hash_json


def expected_labels(cfg: DatanetConfig, labels: list[str]) -> list[str]:
    """The label list a build of `cfg` writes (configured, named by label_names, else sorted)."""
    named = cfg.columns.name_of_label()
    return cfg.labels or (list(dict.fromkeys(named.values())) if named else None) or sorted(labels)


def expected_entries(cfg: DatanetConfig, entries: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """What each contributor entry's static facts must be: a simulated contributor's index and behaviour come
    from the config, a named one's address from its name, anyone else (a signer) has none."""
    c = cfg.contributors
    if c.mode == "simulate":
        behaviour = {b.contributor: b for b in c.behaviours}
        simulated = {
            a.address: {"index": i, "behaviour": behaviour[i].kind if i in behaviour else "clean",
                        "rate": behaviour[i].rate if i in behaviour else 0.0}
            for i, a in enumerate(simulated_accounts(c.n, c.seed))
        }  # fmt: skip
    else:
        simulated = {}
    out = {}
    for e in entries:
        if e["address"] in simulated:
            out[e["address"]] = {"address": e["address"], **simulated[e["address"]]}
        elif e.get("name"):
            out[e["address"]] = {
                "address": address_for_name(e["name"]),
                "name": e["name"],
                "behaviour": None,
                "rate": None,
            }
        else:
            out[e["address"]] = {"address": e["address"], "behaviour": None, "rate": None}
    return out


def expected_ground_truth(cfg: DatanetConfig) -> dict[str, Any]:
    """The ground truth a build records (without the injected counts): the simulation that made it, if any."""
    c = cfg.contributors
    if c.mode != "simulate":
        return {"mode": c.mode}
    behaviours = [b.model_dump() for b in c.behaviours]
    return {"mode": c.mode, "seed": c.seed, "strategy": c.strategy, "n": c.n, "behaviours": behaviours}


def manifest_problems(
    manifest: dict[str, Any],
    version: int,
    table: pa.Table,
    rejected: int,
    parent: dict[str, Any] | None,
    schema: dict[str, str],
) -> list[str]:
    """Fields of version `version`'s manifest that disagree with its records (`table`), rejections, config and
    parent."""
    from olab.datanet.versions import FORMAT

    problems = []
    try:
        cfg = DatanetConfig.model_validate(manifest.get("config"))
    except ValueError as e:
        return [f"its config is not a valid Datanet config ({type(e).__name__})"]
    fixed = {
        "format": FORMAT,
        "version": version,
        "leaf_encoding": LEAF_ENCODING,
        "record_hash_encoding": RECORD_HASH_SPEC,
        "schema": schema,
        "record_count": table.num_rows,
        "rejected_count": rejected,
        "name": cfg.name,
        "config_hash": hash_json(manifest.get("config")),
        "policy": cfg.policy,
        "chain_id": cfg.chain_id,
        "parent_version": parent["version"] if parent else None,
        "parent_root": parent["merkle_root"] if parent else None,
    }
    problems += [f"{k} is {manifest.get(k)!r}, not {v!r}" for k, v in fixed.items() if manifest.get(k) != v]
    labels, used = manifest.get("labels") or [], set(table.column("label").to_pylist())
    if labels != expected_labels(cfg, labels) or not used <= set(labels):
        problems.append(f"labels {labels} are not the label set its config and records give")
    contributors = table.column("contributor").to_pylist()
    injected = table.column("injected").to_pylist()
    counts, kinds = Counter(contributors), Counter(zip(contributors, injected, strict=True))
    entries = manifest.get("contributors") or []
    statics = expected_entries(cfg, entries)
    for e in entries:
        want = {
            **statics[e["address"]],
            "records": counts.get(e["address"], 0),
            "injected": {k: n for (a, k), n in kinds.items() if a == e["address"] and k},
        }
        wrong = sorted(k for k in want if e.get(k) != want[k])
        if wrong:
            problems.append(f"contributor {e['address']}: {', '.join(wrong)} not what its config and records give")
    missing = sorted(set(counts) - {e["address"] for e in entries})
    if missing:
        problems.append(f"contributors {missing} hold records but have no entry")
    truth = dict(manifest.get("ground_truth") or {})
    if truth.pop("injected_records", None) != dict(Counter(k for k in injected if k)):
        problems.append("ground_truth.injected_records does not count the records' injected column")
    if truth != expected_ground_truth(cfg):
        problems.append("ground_truth does not follow from its contributors config")
    return problems
