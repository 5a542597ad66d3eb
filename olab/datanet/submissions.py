"""The log of signed contributions a Datanet has seen: one JSON file per batch, with its status.

Status: pending (held for review), accepted (in the version it names), rejected (with the reason). The
log is what makes replays detectable: a signer's nonce, and a batch already applied, are refused.
Batches whose signature fails are logged apart (`unverified-*`) so a forgery never blocks the real
signer's batch with the same content and nonce.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from olab.datanet.contributions import SignedBatch
from olab.datanet.storage import SUBMISSIONS, Storage
from olab.datanet.validation import jsonable
from olab.errors import DatanetError
from olab.hashing import canonical_json, sha256_bytes

UNVERIFIED = "unverified-"


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


@dataclass
class SubmitResult:
    """What became of a submitted batch: `status` accepted | rejected | pending, and why."""

    status: str
    batch_id: str | None
    contributor: str | None
    reason: str | None = None
    version: int | None = None
    accepted: list[str] = field(default_factory=list)
    rejections: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == "accepted"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        """One line for the outcome, then one per rejected record with its rule and reason."""
        lines = [
            f"{self.status}: version {self.version}, accepted {self.accepted}"
            + (f" ({self.reason})" if self.reason else "")
        ]
        lines += [f"rejected ({r['rule']}): {r['reason']}" for r in self.rejections]
        return "\n".join(lines)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(self.summary())  # what a notebook cell shows


class SubmissionLog:
    """The `submissions/` directory of one Datanet."""

    def __init__(self, storage: Storage):
        self.storage = storage

    def entries(self) -> list[dict[str, Any]]:
        """Every batch whose signature verified, in submission order."""
        names = [n for n in self.storage.list(SUBMISSIONS) if n.endswith(".json") and not n.startswith(UNVERIFIED)]
        found = [self.storage.read_json(f"{SUBMISSIONS}/{n}") for n in names]
        return sorted(found, key=lambda e: (e["submitted"], e["batch_id"]))

    def get(self, batch_id: str) -> dict[str, Any]:
        rel = f"{SUBMISSIONS}/{batch_id}.json"
        if not self.storage.exists(rel):
            known = [e["batch_id"] for e in self.entries()]
            raise DatanetError(
                f"{self.storage.path} has no submitted batch {batch_id}; known batches: {known or 'none'}"
            )
        return self.storage.read_json(rel)

    def save(self, entry: dict[str, Any]) -> None:
        self.storage.write_json(f"{SUBMISSIONS}/{entry['batch_id']}.json", entry)

    @staticmethod
    def entry(
        batch: SignedBatch, batch_id: str, signer: str, status: str, at_version: int, **fields: Any
    ) -> dict[str, Any]:
        """A log entry for a verified batch (saved with `save` once its status is decided)."""
        return {
            "batch_id": batch_id,
            "batch_hash": batch.batch_hash,
            "signer": signer,
            "nonce": batch.nonce,
            "status": status,
            "submitted": now(),
            "at_version": at_version,
            "batch": batch.to_json(),
            **fields,
        }

    def record_unverified(self, batch: SignedBatch, reason: str, at_version: int) -> None:
        data = jsonable(batch.to_json())  # a malformed batch may hold values JSON cannot write
        key = sha256_bytes(canonical_json({"batch": data, "reason": reason}))[7:23]
        self.storage.write_json(
            f"{SUBMISSIONS}/{UNVERIFIED}{key}.json",
            {"status": "rejected", "reason": reason, "submitted": now(), "at_version": at_version, "batch": data},
        )

    def replay_problem(self, batch_id: str, signer: str, nonce: int, batch_hash: str) -> str | None:
        """Why this batch is a replay of one already seen from `signer`, or None."""
        for e in self.entries():
            status = e["status"] + (f" in version {e['version']}" if e.get("version") else "")
            if e["batch_id"] == batch_id:
                return f"replayed batch: batch {batch_id} was already submitted (status: {status})"
            if e["signer"] != signer:
                continue
            if e["nonce"] == nonce:
                return (
                    f"replayed nonce: {signer} already used nonce {nonce} for batch {e['batch_id']} (status: {status}); "
                    "sign the batch again with a new nonce"
                )
            if e["batch_hash"] == batch_hash and e["status"] == "accepted":
                return (
                    f"replayed batch: these records from {signer} were already applied {status} (batch {e['batch_id']})"
                )
        return None
