"""What a Datanet commits to: the record hash, the Merkle leaf, and the dedupe key.

Record hash (canonical encoding, version 1)::

    record_hash = keccak256(abi.encode(string "olab.datanet.record/v1", string record_id, string text, string label))

`abi.encode` is Solidity's standard ABI encoding of four dynamic strings (so a contract can recompute
it); each string is the field's UTF-8 bytes exactly as stored, with no normalisation. The contributor
is not inside the record hash: it is the second half of the Merkle leaf,

    leaf = keccak256(bytes.concat(keccak256(abi.encode(bytes32 record_hash, address contributor))))

which is OpenZeppelin's StandardMerkleTree leaf for the encoding `LEAF_ENCODING`.

Instruction records (prompt, response) use the same encoding: the prompt is stored as `text` and the
response as `label` (`columns.prompt` / `columns.response` map them), so the hash commits to both, and a
wrong-answer contributor is the generative form of label noise (the response replaced by another's).

Dedupe key: the text after Unicode NFKC normalisation, case folding and collapsing all whitespace to
single spaces; two records with the same key are exact duplicates whatever their labels.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

from olab.hashing import keccak
from olab.merkle import StandardMerkleTree, verify_leaf

RECORD_DOMAIN = "olab.datanet.record/v1"
RECORD_ENCODING = ["string", "string", "string", "string"]
LEAF_ENCODING = ["bytes32", "address"]
RECORD_HASH_SPEC = (
    'keccak256(abi.encode(string "olab.datanet.record/v1", string record_id, string text, string label)); '
    "strings are the stored UTF-8 bytes, unnormalised"
)


def _abi_string_tail(data: bytes) -> bytes:
    pad = -len(data) % 32
    return len(data).to_bytes(32, "big") + data + b"\x00" * pad


_DOMAIN_TAIL = _abi_string_tail(RECORD_DOMAIN.encode())


def encode_record(record_id: str, text: str, label: str) -> bytes:
    """abi.encode(string domain, string record_id, string text, string label), written out by hand for speed."""
    tails = [_DOMAIN_TAIL, *(_abi_string_tail(s.encode("utf-8")) for s in (record_id, text, label))]
    heads, offset = [], 32 * len(tails)
    for tail in tails:
        heads.append(offset.to_bytes(32, "big"))
        offset += len(tail)
    return b"".join(heads) + b"".join(tails)


def record_hash(record_id: str, text: str, label: str) -> str:
    """The record's commitment as 0x-hex (see the module docstring for the encoding)."""
    for field, value in (("record_id", record_id), ("text", text), ("label", label)):
        if not isinstance(value, str):
            raise TypeError(f"record {field} must be a string to be hashed, got {type(value).__name__} {value!r}")
    return "0x" + keccak(encode_record(record_id, text, label)).hex()


def record_hashes(ids: Sequence[str], texts: Sequence[str], labels: Sequence[str]) -> list[str]:
    """`record_hash` for many records (columns of equal length)."""
    return [record_hash(i, t, lab) for i, t, lab in zip(ids, texts, labels, strict=True)]


def build_tree(hashes: Sequence[str], contributors: Sequence[str]) -> StandardMerkleTree:
    """The Datanet's Merkle tree: one `(bytes32 record_hash, address contributor)` leaf per record, in row order."""
    return StandardMerkleTree.from_columns([hashes, contributors], LEAF_ENCODING)


def normalise_text(text: str) -> str:
    """The dedupe key of a text: NFKC, case-folded, whitespace collapsed."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def verify_record_proof(
    proof: Mapping[str, Any], root: str | None = None, record: Mapping[str, Any] | None = None
) -> bool:
    """Check a proof from `Datanet.proof` without the Datanet: its leaf `(record_hash, contributor)` links to
    `root` (default: the proof's own `root`, which you should compare with the published one).

    With `record` (its `text` and `label`, and optionally `record_id`), the record's fields must also hash
    to the proof's `record_hash`; that is what binds `record_id` and the content to the leaf.
    """
    try:
        if record is not None:
            rid = record.get("record_id", proof["record_id"])
            if rid != proof["record_id"] or record_hash(rid, record["text"], record["label"]) != proof["record_hash"]:
                return False
        return verify_leaf(
            root or proof["root"], LEAF_ENCODING, [proof["record_hash"], proof["contributor"]], proof["proof"]
        )
    except (KeyError, TypeError, ValueError, AttributeError):
        return False
