"""Taking signed contributions into a Datanet: check the signature and replays, hold or validate, and
commit the accepted records as a new version (the `Datanet.submit/approve/reject` machinery)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from olab.datanet.build import auto_record_id
from olab.datanet.contributions import SignedBatch, signature_problem
from olab.datanet.records import normalise_text
from olab.datanet.submissions import SubmitResult, now
from olab.datanet.validation import RecordValidator, Rejection, jsonable
from olab.datanet.versions import COLUMNS, commit
from olab.errors import DatanetError, ValidationError

if TYPE_CHECKING:
    from olab.datanet.store import Datanet

# manifest fields a contribution version inherits from its parent
INHERITED = (
    "name",
    "labels",
    "config",
    "config_hash",
    "build_hash",
    "source",
    "contributors",
    "ground_truth",
    "policy",
    "chain_id",
)


def submit(latest: Datanet, batch: SignedBatch) -> SubmitResult:
    """Rejected (bad signature, replay, nothing valid), pending (policy review), or accepted as a new version."""
    log = latest.submissions
    try:
        problem, batch_id = signature_problem(batch, latest.signing_domain), batch.batch_id
    except ValidationError as e:
        problem, batch_id = f"malformed batch: {e}", None
    if problem is not None:
        log.record_unverified(batch, problem, latest.version)
        rejections = [
            Rejection(i, "bad_signature", f"record {i}: {problem}", batch.contributor, jsonable(r)).to_json()
            for i, r in enumerate(batch.records)
        ]
        return SubmitResult("rejected", batch_id, batch.contributor, problem, rejections=rejections)
    signer = batch.recover()
    replay = log.replay_problem(batch_id, signer, batch.nonce, batch.batch_hash)
    if replay is not None:
        return SubmitResult("rejected", batch_id, signer, replay)
    if latest.manifest["policy"] == "review":
        _, found = check_batch(latest, batch, signer, batch_id)
        preview = [r.to_json() for r in found]
        log.save(log.entry(batch, batch_id, signer, "pending", latest.version, preview_rejections=preview))
        return SubmitResult(
            "pending", batch_id, signer, "held for the owner's review (policy: review)", rejections=preview
        )
    return apply_batch(latest, log.entry(batch, batch_id, signer, "received", latest.version))


def pending_entry(dn: Datanet, batch_id: str) -> dict[str, Any]:
    """The log entry of a batch awaiting review (DatanetError if it is not pending)."""
    entry = dn.submissions.get(batch_id)
    if entry["status"] != "pending":
        raise DatanetError(
            f"batch {batch_id} is not pending (status: {entry['status']}); only pending batches can be decided"
        )
    return entry


def reject(latest: Datanet, batch_id: str, reason: str) -> SubmitResult:
    entry = pending_entry(latest, batch_id)
    why = f"rejected by the owner: {reason or 'no reason given'}"
    entry |= {"status": "rejected", "reason": why, "decided": now(), "decided_at_version": latest.version}
    latest.submissions.save(entry)
    return SubmitResult("rejected", batch_id, entry["signer"], why)


def check_batch(
    dn: Datanet, batch: SignedBatch, signer: str, batch_id: str
) -> tuple[dict[str, list[Any]], list[Rejection]]:
    """Validate a batch against version `dn`: the new rows (with fresh record ids) and the rejections."""
    ids = dn.table.column("record_id").to_pylist()
    known = {normalise_text(t): rid for rid, t in zip(ids, dn.table.column("text").to_pylist(), strict=True)}
    table = dn.table.select(["text", "label", "near_duplicate_of"]).to_pylist()
    accepted = [
        (rid, {"text": r["text"], "label": r["label"]}, r["near_duplicate_of"])
        for rid, r in zip(ids, table, strict=True)
    ]
    validator = RecordValidator(
        dn.config.validation,
        dn.labels,
        allowed_fields=("text", "label"),
        known_texts=known,
        known_ids=ids,
        known_records=accepted,
    )
    number = dn.manifest.get("next_record_number", len(ids))
    rows: dict[str, list[Any]] = {c: [] for c in COLUMNS if c != "record_hash"}
    rejections = []
    for i, record in enumerate(batch.records):
        while auto_record_id(number) in validator.ids:
            number += 1
        record_id = auto_record_id(number)
        rejection = validator.check(i, record, signer, record_id)
        if rejection is not None:
            rejections.append(rejection)
            continue
        number += 1
        row = {"record_id": record_id, "contributor": signer, "text": record["text"], "label": record["label"]}
        row |= {"injected": None, "original_label": None, "version_added": dn.version + 1, "batch_id": batch_id}
        row["near_duplicate_of"] = validator.near_copies.get(record_id)
        for key, value in row.items():
            rows[key].append(value)
    return rows, rejections


def apply_batch(latest: Datanet, entry: dict[str, Any]) -> SubmitResult:
    """Validate a verified batch against the latest version and commit what passes as the next version."""
    batch, batch_id, signer = SignedBatch.from_json(entry["batch"]), entry["batch_id"], entry["signer"]
    rows, rejections = check_batch(latest, batch, signer, batch_id)
    rejected = [r.to_json() | {"batch_id": batch_id} for r in rejections]
    added = len(rows["record_id"])
    decided = {"rejections": rejected, "decided": now(), "decided_at_version": latest.version}
    if added == 0:
        why = f"all {len(batch.records)} records failed validation"
        latest.submissions.save(entry | decided | {"status": "rejected", "reason": why})
        return SubmitResult("rejected", batch_id, signer, why, rejections=rejected)
    version = latest.version + 1
    columns = {c: latest.table.column(c).to_pylist() + rows[c] for c in rows}
    meta = {k: latest.manifest[k] for k in INHERITED if k in latest.manifest}
    meta["ground_truth"] = {k: v for k, v in meta.get("ground_truth", {}).items() if k != "injected_records"}
    meta["next_record_number"] = int(rows["record_id"][-1][1:]) + 1
    meta["change"] = {
        "kind": "contribution",
        "batch_id": batch_id,
        "contributor": signer,
        "nonce": batch.nonce,
        "added": added,
        "rejected": len(rejected),
    }
    commit(latest.storage, version=version, parent=latest.manifest, columns=columns, rejections=rejected, meta=meta)
    latest.submissions.save(entry | decided | {"status": "accepted", "version": version, "accepted": rows["record_id"]})
    return SubmitResult("accepted", batch_id, signer, None, version, rows["record_id"], rejected)
