"""Near-duplicate detection at ingestion: MinHash signatures of each record's word shingles in an LSH index.

MinHash LSH (datasketch) is the field's standard for near-duplicate text at scale (used to dedupe
web-scale training corpora): a signature per record, candidate pairs from banded hashing in roughly
constant time per lookup, then a similarity check on the signatures. Exact matches stay with the
`duplicate` rule; this finds edited copies. The earliest accepted record of a cluster is its original.
A record's content is every string field except its label and id, so any record shape (text, or
prompt and response) is handled the same way.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from datasketch import MinHash, MinHashLSH

from olab.datanet.records import normalise_text

_WORD = re.compile(r"\w+")
SKIPPED_FIELDS = ("label", "id", "record_id")


def content(record: Mapping[str, Any]) -> str:
    """What a record says: its string fields other than label and id, in field-name order."""
    return "\n".join(v for k, v in sorted(record.items()) if k not in SKIPPED_FIELDS and isinstance(v, str))


def shingles(text: str, n: int) -> set[bytes]:
    """The set of word n-grams (and, for short texts, the words) of a normalised text, as bytes."""
    words = _WORD.findall(normalise_text(text))
    grams = {" ".join(words[i : i + n]) for i in range(max(len(words) - n + 1, 1))} if words else set()
    return {g.encode("utf-8") for g in grams | set(words)}


class NearDuplicateIndex:
    """Accepted records' MinHash signatures; `find` names the earliest accepted near-copy of a text."""

    def __init__(self, threshold: float, num_perm: int = 128, ngram: int = 2, seed: int = 1):
        self.threshold, self.num_perm, self.ngram, self.seed = threshold, num_perm, ngram, seed
        self._lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
        self._sig: dict[str, MinHash] = {}
        self._order: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._sig)

    def signature(self, text: str) -> MinHash:
        m = MinHash(num_perm=self.num_perm, seed=self.seed)
        m.update_batch(sorted(shingles(text, self.ngram)))
        return m

    def find(self, text: str, signature: MinHash | None = None) -> tuple[str, float] | None:
        """(record id of the earliest accepted record whose estimated Jaccard similarity >= threshold, similarity)."""
        sig = signature or self.signature(text)
        if sig.is_empty():
            return None
        hits = [(self._order[r], r, sig.jaccard(self._sig[r])) for r in self._lsh.query(sig)]
        hits = [h for h in hits if h[2] >= self.threshold]
        if not hits:
            return None
        _, rid, sim = min(hits)
        return rid, sim

    def add(self, record_id: str, text: str, signature: MinHash | None = None) -> None:
        """Remember an accepted record (the first one added of a cluster is its original)."""
        if record_id in self._sig:
            return
        sig = signature or self.signature(text)
        if sig.is_empty():
            return
        self._order[record_id] = len(self._order)
        self._sig[record_id] = sig
        self._lsh.insert(record_id, sig)

    def extend(self, records: Iterable[tuple[str, str]]) -> None:
        """Add (record_id, text) pairs in acceptance order."""
        for rid, text in records:
            self.add(rid, text)
