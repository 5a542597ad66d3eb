"""Record validation: each rule rejects a record with a reason; the rest of the batch is kept.

Rules (the `rule` of a `Rejection`): missing_field, mistyped_field, unexpected_field, empty_text,
text_too_short, text_too_long, unknown_label, duplicate_id, duplicate (same normalised text as an
accepted record, within the batch or across contributors and versions), near_duplicate (an edited copy
of an accepted record, when the owner's policy rejects them; see `neardup`), bad_contributor (an import row
whose contributor looks like an address but is malformed or mis-checksummed), and bad_signature (a whole
batch whose signature does not recover its claimed contributor; see `contributions`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from olab.datanet.config import ValidationConfig
from olab.datanet.neardup import NearDuplicateIndex, content
from olab.datanet.records import normalise_text

RULES = (
    "missing_field",
    "mistyped_field",
    "unexpected_field",
    "empty_text",
    "text_too_short",
    "text_too_long",
    "unknown_label",
    "duplicate_id",
    "duplicate",
    "bad_contributor",
    "near_duplicate",
    "bad_signature",
)
REQUIRED = ("text", "label")


@dataclass(frozen=True)
class Rejection:
    """One rejected record: where it was (`index` in its batch or source), the rule and a readable reason."""

    index: int
    rule: str
    reason: str
    contributor: str | None
    record: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def jsonable(value: Any) -> Any:
    """`value` as JSON (unknown types as their repr), so a rejected record can always be logged whole."""
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return repr(value)


class RecordValidator:
    """Checks records one by one against the rules, remembering accepted texts and ids for dedupe."""

    def __init__(
        self,
        cfg: ValidationConfig,
        labels: Sequence[str],
        *,
        allowed_fields: Iterable[str] = ("text", "label", "id"),
        known_texts: Mapping[str, str] | None = None,
        known_ids: Iterable[str] = (),
        known_records: Iterable[tuple[str, Mapping[str, Any], str | None]] = (),
    ):
        """`known_records`: the accepted records (record_id, record, near_duplicate_of) in acceptance order,
        against which near-copies are looked for."""
        self.cfg = cfg
        self.labels = list(labels)
        self._label_set = set(labels)
        self.allowed = set(allowed_fields)
        self.texts: dict[str, str] = dict(known_texts or {})  # normalised text -> record id that holds it
        self.ids: set[str] = set(known_ids)
        near = cfg.near_duplicates
        self.near = None if near.policy == "off" else NearDuplicateIndex(near.threshold, near.num_perm, near.ngram)
        self.near_copies: dict[str, str] = {}  # record id -> the original of its near-copy cluster
        for rid, record, original in known_records if self.near is not None else ():
            self.near.add(rid, content(record))
            if original:
                self.near_copies[rid] = original

    def check(
        self,
        index: int,
        record: Mapping[str, Any],
        contributor: str | None,
        record_id: str | None,
        where: str | None = None,
    ) -> Rejection | None:
        """None if `record` passes (and is remembered as `record_id`), else the first rule it breaks.

        `where` names the record in the reason (default "record <index>", its place in the batch).
        """
        reason = self._first_problem(record, record_id)
        if reason is None and self.near is not None and record_id is not None:
            reason = self._near_copy(record, record_id)
        if reason is not None:
            rule, text = reason
            shown = jsonable(dict(record)) if isinstance(record, Mapping) else {"value": jsonable(record)}
            return Rejection(index, rule, f"{where or f'record {index}'}: {text}", contributor, shown)
        if record_id is not None:
            self.ids.add(record_id)
            if self.cfg.reject_duplicates:
                self.texts[normalise_text(record["text"])] = record_id
        return None

    def _near_copy(self, record: Mapping[str, Any], record_id: str) -> tuple[str, str] | None:
        """Reject a near-copy (policy reject) or note its original (credit_original), then index it."""
        text = content(record)
        sig = self.near.signature(text)
        hit = self.near.find(text, sig)
        if hit is not None:
            original = self.near_copies.get(hit[0], hit[0])
            threshold = self.cfg.near_duplicates.threshold
            if self.cfg.near_duplicates.policy == "reject":
                return (
                    "near_duplicate",
                    f"near-copy of record {original} (word-set Jaccard similarity {hit[1]:.2f} >= "
                    f"validation.near_duplicates.threshold {threshold}); the earliest accepted record is the original",
                )
            self.near_copies[record_id] = original
        self.near.add(record_id, text, sig)
        return None

    def _first_problem(self, record: Mapping[str, Any], record_id: str | None) -> tuple[str, str] | None:
        if not isinstance(record, Mapping):
            return "mistyped_field", f"a record must be a mapping with 'text' and 'label', got {type(record).__name__}"
        for name in REQUIRED:
            if record.get(name) is None:
                return (
                    "missing_field",
                    f"field {name!r} is missing (empty, null or NaN); every record needs string fields {list(REQUIRED)}",
                )
        for name in (*REQUIRED, "id"):
            value = record.get(name)
            if value is not None and not isinstance(value, str):
                return "mistyped_field", f"field {name!r} must be a string, got {type(value).__name__} {value!r}"
        extra = sorted(str(k) for k in record if k not in self.allowed)
        if extra:
            return "unexpected_field", f"unexpected field(s) {extra}; a record may only have {sorted(self.allowed)}"
        text, label = record["text"], record["label"]
        stripped = text.strip()
        if not stripped:
            return "empty_text", "text is empty (nothing but whitespace)"
        if len(stripped) < self.cfg.min_chars:
            return (
                "text_too_short",
                f"text has {len(stripped)} characters; the minimum is {self.cfg.min_chars} (validation.min_chars)",
            )
        if len(text) > self.cfg.max_chars:
            return (
                "text_too_long",
                f"text has {len(text):,} characters; the maximum is {self.cfg.max_chars:,} (validation.max_chars)",
            )
        if label not in self._label_set:
            return "unknown_label", f"label {label!r} is not one of the Datanet's labels {self.labels}"
        if record_id is not None and record_id in self.ids:
            return "duplicate_id", f"record id {record_id!r} is already taken by another record"
        if self.cfg.reject_duplicates:
            first = self.texts.get(normalise_text(text))
            if first is not None:
                return (
                    "duplicate",
                    f"duplicate of record {first} (the same text after normalising Unicode, case and whitespace)",
                )
        return None
