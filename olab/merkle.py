"""Merkle trees compatible with OpenZeppelin's `StandardMerkleTree` (`@openzeppelin/merkle-tree`).

    leaf      = keccak256(bytes.concat(keccak256(abi.encode(values...))))
    node      = keccak256(sort(a, b))              (pairs hashed in sorted order)
    layout    = OpenZeppelin's array heap: leaves sorted, stored at the end in reverse order

With the same values and encoding, `StandardMerkleTree(...).root` equals OpenZeppelin's root, proofs
from either verify with the other, `dump()` writes OpenZeppelin's `standard-v1` JSON and `load()`
reads it, and `MerkleProof.sol`-style contracts accept our proofs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

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


def _json_value(typ: str, value: Any) -> Any:
    """A value as OpenZeppelin's JSON dump writes it."""
    if typ == "address":
        return to_checksum_address(value)
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
        self.values = [list(v) for v in values]
        leaves = _leaves if _leaves is not None else [leaf_hash(self.encoding, v) for v in self.values]
        order = sorted(range(len(leaves)), key=leaves.__getitem__)
        n = len(leaves)
        tree: list[bytes] = [b""] * (2 * n - 1)
        self._tree_index = [0] * n  # value index -> position in `tree`
        for rank, vi in enumerate(order):
            pos = len(tree) - 1 - rank
            tree[pos] = leaves[vi]
            self._tree_index[vi] = pos
        for i in range(len(tree) - 1 - n, -1, -1):
            a, b = tree[2 * i + 1], tree[2 * i + 2]
            tree[i] = keccak(a + b) if a <= b else keccak(b + a)
        self._tree = tree

    @classmethod
    def of(cls, values: Sequence[Sequence[Any]], encoding: Sequence[str]) -> StandardMerkleTree:
        return cls(values, encoding)

    @property
    def root(self) -> bytes:
        return self._tree[0]

    @property
    def root_hex(self) -> str:
        return "0x" + self._tree[0].hex()

    def __len__(self) -> int:
        return len(self.values)

    def leaf(self, index: int) -> bytes:
        return self._tree[self._tree_index[index]]

    def proof(self, index: int) -> list[str]:
        """Sibling hashes (0x-hex) from the leaf of value `index` up to the root."""
        if not 0 <= index < len(self.values):
            raise IndexError(f"value index {index} out of range 0..{len(self.values) - 1}")
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
