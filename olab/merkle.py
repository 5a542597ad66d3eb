"""Merkle trees compatible with OpenZeppelin's `StandardMerkleTree` (`@openzeppelin/merkle-tree`).

    leaf      = keccak256(bytes.concat(keccak256(abi.encode(values...))))
    node      = keccak256(sort(a, b))              (pairs hashed in sorted order)
    layout    = OpenZeppelin's array heap: leaves sorted, stored at the end in reverse order

With the same values and encoding, `StandardMerkleTree(...).root` equals OpenZeppelin's root, proofs
from either verify with the other, `dump()` writes OpenZeppelin's `standard-v1` JSON and `load()`
reads it, and `MerkleProof.sol`-style contracts accept our proofs.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

import numpy as np
from eth_abi import encode as abi_encode
from eth_utils import to_checksum_address

from olab.hashing import keccak

FORMAT = "standard-v1"


# --- leaf encoding -------------------------------------------------------------------------------


def _to_bytes(value: Any, nbytes: int | None = None) -> bytes:
    if isinstance(value, bytes | bytearray):
        b = bytes(value)
    elif isinstance(value, str) and value.startswith(("0x", "0X")):
        b = bytes.fromhex(value[2:])
    else:
        raise TypeError(f"expected bytes or a 0x-hex string, got {value!r}")
    if nbytes is not None and len(b) != nbytes:
        raise ValueError(f"expected {nbytes} bytes, got {len(b)} in {value!r}")
    return b


def _encode_static(typ: str, value: Any) -> bytes | None:
    """Fast ABI encoding of the common static types; None where eth_abi must do it."""
    if typ == "address":
        return b"\x00" * 12 + _to_bytes(value, 20)
    if typ == "bytes32":
        return _to_bytes(value, 32)
    if typ.startswith("uint"):
        v = int(value)
        bits = int(typ[4:] or 256)
        if not 0 <= v < 1 << bits:
            raise ValueError(f"{v} does not fit {typ}")
        return v.to_bytes(32, "big")
    return None


_ZERO12 = b"\x00" * 12


def _encode_address(value: Any) -> bytes:
    if type(value) is str and len(value) == 42 and value[:2] in ("0x", "0X"):
        return _ZERO12 + bytes.fromhex(value[2:])
    return _ZERO12 + _to_bytes(value, 20)


def _encode_bytes32(value: Any) -> bytes:
    if type(value) is str and len(value) == 66 and value[:2] in ("0x", "0X"):
        return bytes.fromhex(value[2:])
    return _to_bytes(value, 32)


def _static_encoder(encoding: Sequence[str]) -> Callable[[Sequence[Any]], bytes] | None:
    """A compiled abi.encode for encodings of static types only (the hot path of tree building)."""
    fields: list[Callable[[Any], bytes]] = []
    for typ in encoding:
        if typ == "address":
            fields.append(_encode_address)
        elif typ == "bytes32":
            fields.append(_encode_bytes32)
        elif typ.startswith("uint") and (typ[4:] or "256").isdigit():
            fields.append(lambda v, t=typ: _encode_static(t, v))  # type: ignore[misc]
        else:
            return None
    n = len(fields)

    def encode(values: Sequence[Any]) -> bytes:
        if len(values) != n:
            raise ValueError(f"leaf has {len(values)} values but the encoding {list(encoding)} has {n}")
        return b"".join([f(v) for f, v in zip(fields, values, strict=True)])

    if n == 2:  # the Datanet and reward leaves: skip the generic join
        f0, f1 = fields

        def encode(values: Sequence[Any]) -> bytes:
            if len(values) != 2:
                raise ValueError(f"leaf has {len(values)} values but the encoding {list(encoding)} has 2")
            return f0(values[0]) + f1(values[1])

    return encode


def encode_leaf(encoding: Sequence[str], values: Sequence[Any]) -> bytes:
    """abi.encode(values) for the given Solidity types."""
    if len(encoding) != len(values):
        raise ValueError(f"leaf has {len(values)} values but the encoding {list(encoding)} has {len(encoding)}")
    parts = [_encode_static(t, v) for t, v in zip(encoding, values, strict=True)]
    if all(p is not None for p in parts):
        return b"".join(parts)  # type: ignore[arg-type]
    return abi_encode(list(encoding), [_normalise(t, v) for t, v in zip(encoding, values, strict=True)])


def _normalise(typ: str, value: Any) -> Any:
    if typ == "address":
        return to_checksum_address(value)
    if typ.startswith("bytes") and isinstance(value, str):
        return _to_bytes(value)
    return value


def leaf_hash(encoding: Sequence[str], values: Sequence[Any]) -> bytes:
    """OpenZeppelin's standard leaf: double keccak over abi.encode(values)."""
    return keccak(keccak(encode_leaf(encoding, values)))


_HEX_SIZES = {"address": 20, "bytes32": 32}


def _encode_hex_columns(encoding: Sequence[str], values: Sequence[Sequence[Any]]) -> list[bytes] | None:
    """abi.encode of every leaf at once when each value is a 0x-hex address/bytes32 string (Datanet leaves).

    Decodes each column with one `bytes.fromhex` and lays the words out with numpy; returns None whenever
    any value is of another shape, so the per-leaf path handles (and reports) it.
    """
    n, width = len(values), 32 * len(encoding)
    if any(t not in _HEX_SIZES for t in encoding) or set(map(len, values)) != {len(encoding)}:
        return None
    words = np.zeros((n, width), dtype=np.uint8)
    for j, typ in enumerate(encoding):
        size = _HEX_SIZES[typ]
        column, stride = [v[j] for v in values], 2 + 2 * size
        if set(map(type, column)) != {str} or set(map(len, column)) != {stride}:
            return None
        joined = "".join(column)  # equal lengths: value i is joined[i * stride : (i + 1) * stride]
        if set(joined[0::stride]) != {"0"} or not set(joined[1::stride]) <= {"x", "X"}:
            return None
        try:
            digits = np.frombuffer(joined.encode("ascii"), dtype=np.uint8).reshape(n, stride)[:, 2:]
            raw = bytes.fromhex(digits.tobytes().decode("ascii"))
        except (UnicodeEncodeError, ValueError):
            return None
        words[:, 32 * (j + 1) - size : 32 * (j + 1)] = np.frombuffer(raw, dtype=np.uint8).reshape(n, size)
    blob = words.tobytes()
    return [blob[i : i + width] for i in range(0, n * width, width)]


def _leaf_hashes(encoding: Sequence[str], values: Sequence[Sequence[Any]]) -> list[bytes]:
    k = keccak
    encoded = _encode_hex_columns(encoding, values)
    if encoded is not None:
        return [k(k(e)) for e in encoded]
    encode = _static_encoder(encoding)
    if encode is None:
        return [leaf_hash(encoding, v) for v in values]
    return [k(k(encode(v))) for v in values]


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building (it is restored to its previous state)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _hash_inner_nodes(tree: list[bytes], n: int) -> None:
    """Fill tree[0 : n-1], node i = hash_pair(tree[2i+1], tree[2i+2]), one heap level at a time (deepest first).

    Level d holds nodes 2^d-1 .. 2^(d+1)-2; their children are the contiguous slice after them, so a level is
    one list comprehension over adjacent pairs instead of per-node index arithmetic.
    """
    k = keccak
    for d in range((n - 1).bit_length() - 1, -1, -1):
        lo, hi = (1 << d) - 1, min((1 << (d + 1)) - 1, n - 1)
        kids = tree[2 * lo + 1 : 2 * hi + 1]
        tree[lo:hi] = [k(a + b) if a <= b else k(b + a) for a, b in zip(kids[0::2], kids[1::2], strict=True)]


def hash_pair(a: bytes, b: bytes) -> bytes:
    return keccak(a + b) if a <= b else keccak(b + a)


def process_proof(leaf: bytes, proof: Sequence[bytes | str]) -> bytes:
    node = leaf
    for sibling in proof:
        node = hash_pair(node, _to_bytes(sibling, 32))
    return node


def verify_proof(root: bytes | str, leaf: bytes, proof: Sequence[bytes | str]) -> bool:
    """True when `proof` links `leaf` to `root` (what `MerkleProof.verify` computes on chain)."""
    try:
        return process_proof(leaf, proof) == _to_bytes(root, 32)
    except (TypeError, ValueError):
        return False


# --- the tree ------------------------------------------------------------------------------------


@lru_cache(maxsize=65536)
def _checksum(value: str | bytes) -> str:
    return to_checksum_address(value)


def _json_value(typ: str, value: Any) -> Any:
    """A value as OpenZeppelin's JSON dump writes it."""
    if typ == "address":
        return _checksum(bytes(value) if isinstance(value, bytearray) else value)
    if typ.startswith(("uint", "int")):
        return str(int(value))
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    return value


class StandardMerkleTree:
    """A Merkle tree over typed values, laid out exactly as OpenZeppelin's StandardMerkleTree."""

    def __init__(self, values: Sequence[Sequence[Any]], encoding: Sequence[str], *, _leaves: list[bytes] | None = None):
        if not values:
            raise ValueError("a Merkle tree needs at least one leaf; got none")
        self.encoding = list(encoding)
        self._value_lists: list[list[Any]] | None = None
        with _gc_paused():  # only acyclic bytes and lists are made here; collections would just rescan them
            self._values = list(values)
            leaves = _leaves if _leaves is not None else _leaf_hashes(self.encoding, self._values)
            n = len(leaves)
            # stable sort of the 32-byte leaves (numpy compares "S32" bytewise, as OpenZeppelin's compare does)
            order = np.argsort(np.array(leaves, dtype="S32"), kind="stable")
            tree: list[bytes] = [b""] * (2 * n - 1)
            tree[n - 1 :] = [leaves[vi] for vi in order[::-1].tolist()]  # ascending leaves, stored from the end
            tree_index = np.empty(n, dtype=np.int64)  # value index -> position in `tree`
            tree_index[order] = np.arange(2 * n - 2, n - 2, -1)
            self._tree_index = tree_index.tolist()
            _hash_inner_nodes(tree, n)
        self._tree = tree

    @property
    def values(self) -> list[list[Any]]:
        """The leaves' values, in the order they were given."""
        if self._value_lists is None:
            self._value_lists = [list(v) for v in self._values]
        return self._value_lists

    @classmethod
    def of(cls, values: Sequence[Sequence[Any]], encoding: Sequence[str]) -> StandardMerkleTree:
        return cls(values, encoding)

    @classmethod
    def from_columns(cls, columns: Sequence[Sequence[Any]], encoding: Sequence[str]) -> StandardMerkleTree:
        """The tree of rows `zip(*columns)` (one column per type in `encoding`), for large column stores."""
        with _gc_paused():
            return cls(list(zip(*columns, strict=True)), encoding)

    @property
    def root(self) -> bytes:
        return self._tree[0]

    @property
    def root_hex(self) -> str:
        return "0x" + self._tree[0].hex()

    def __len__(self) -> int:
        return len(self._values)

    def leaf(self, index: int) -> bytes:
        return self._tree[self._tree_index[index]]

    def proof(self, index: int) -> list[str]:
        """Sibling hashes (0x-hex) from the leaf of value `index` up to the root."""
        if not 0 <= index < len(self._values):
            raise IndexError(f"value index {index} out of range 0..{len(self._values) - 1}")
        pos, out = self._tree_index[index], []
        while pos > 0:
            sibling = pos - 1 if pos % 2 == 0 else pos + 1
            out.append("0x" + self._tree[sibling].hex())
            pos = (pos - 1) // 2
        return out

    def verify(self, index: int, proof: Sequence[bytes | str]) -> bool:
        return verify_proof(self.root, self.leaf(index), proof)

    def dump(self) -> dict[str, Any]:
        """OpenZeppelin's `standard-v1` JSON: `StandardMerkleTree.load()` in JS reads it."""
        return {
            "format": FORMAT,
            "leafEncoding": self.encoding,
            "tree": ["0x" + h.hex() for h in self._tree],
            "values": [
                {"value": [_json_value(t, x) for t, x in zip(self.encoding, v, strict=True)], "treeIndex": ti}
                for v, ti in zip(self.values, self._tree_index, strict=True)
            ],
        }

    @classmethod
    def load(cls, data: dict[str, Any]) -> StandardMerkleTree:
        """Rebuild from a `standard-v1` dump (ours or OpenZeppelin's) and check it is consistent."""
        if data.get("format") != FORMAT:
            raise ValueError(f"unknown Merkle tree format {data.get('format')!r}; expected {FORMAT!r}")
        tree = cls([v["value"] for v in data["values"]], data["leafEncoding"])
        if ["0x" + h.hex() for h in tree._tree] != [h.lower() for h in data["tree"]]:
            raise ValueError("Merkle dump is inconsistent: its tree does not match its values")
        return tree


def verify_leaf(
    root: bytes | str, encoding: Sequence[str], values: Sequence[Any], proof: Sequence[bytes | str]
) -> bool:
    """Verify that `values` (encoded with `encoding`) is a leaf of the tree with `root`."""
    try:
        return verify_proof(root, leaf_hash(encoding, values), proof)
    except (TypeError, ValueError):
        return False
