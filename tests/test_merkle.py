"""olab.merkle: proofs verify, tampering fails, the fast paths agree with the plain ABI encoding.

Interoperability with OpenZeppelin's JS library is tested in tests/datanet/test_interop.py.
"""

from __future__ import annotations

import pytest
from eth_abi import encode as abi_encode
from hypothesis import given, settings
from hypothesis import strategies as st

from olab.hashing import keccak
from olab.merkle import (
    StandardMerkleTree,
    encode_leaf,
    hash_pair,
    leaf_hash,
    process_proof,
    verify_leaf,
    verify_proof,
)

ENC = ["bytes32", "address"]
b32 = st.binary(min_size=32, max_size=32)
addr = st.binary(min_size=20, max_size=20)
leaf_values = st.lists(st.tuples(b32, addr), min_size=1, max_size=40, unique=True)


def as_hex(values: list[tuple[bytes, bytes]]) -> list[list[str]]:
    return [["0x" + h.hex(), "0x" + a.hex()] for h, a in values]


@settings(max_examples=60, deadline=None)
@given(values=leaf_values, data=st.data())
def test_every_proof_verifies_and_tampering_fails(values, data):
    hexed = as_hex(values)
    tree = StandardMerkleTree(hexed, ENC)
    for i, v in enumerate(hexed):
        proof = tree.proof(i)
        assert tree.verify(i, proof)
        assert verify_leaf(tree.root_hex, ENC, v, proof)
        assert verify_proof(tree.root, leaf_hash(ENC, v), proof)

    i = data.draw(st.integers(0, len(hexed) - 1))
    value, proof = hexed[i], tree.proof(i)
    other_hash = data.draw(b32.filter(lambda h: ["0x" + h.hex(), value[1]] not in hexed))
    other_addr = data.draw(addr.filter(lambda a: [value[0], "0x" + a.hex()] not in hexed))
    assert not verify_leaf(tree.root_hex, ENC, ["0x" + other_hash.hex(), value[1]], proof)
    assert not verify_leaf(tree.root_hex, ENC, [value[0], "0x" + other_addr.hex()], proof)
    if proof:
        j = data.draw(st.integers(0, len(proof) - 1))
        bit = data.draw(st.integers(0, 255))
        flipped = bytearray(bytes.fromhex(proof[j][2:]))
        flipped[bit // 8] ^= 1 << (bit % 8)
        assert not verify_leaf(tree.root_hex, ENC, value, [*proof[:j], "0x" + flipped.hex(), *proof[j + 1 :]])
        assert not verify_leaf(tree.root_hex, ENC, value, proof[:-1])
    assert not verify_leaf(tree.root_hex, ENC, value, [*proof, "0x" + "11" * 32])


@settings(max_examples=40, deadline=None)
@given(values=leaf_values)
def test_fast_encoding_matches_eth_abi(values):
    hexed = as_hex(values)
    as_bytes = [[h, a] for h, a in values]
    for v in hexed:
        assert encode_leaf(ENC, v) == abi_encode(ENC, [bytes.fromhex(v[0][2:]), v[1]])
    # the column path (hex strings), the per-leaf path (bytes) and the plain definition give one tree
    expected = [keccak(keccak(abi_encode(ENC, [h, "0x" + a.hex()]))) for h, a in values]
    fast, slow = StandardMerkleTree(hexed, ENC), StandardMerkleTree(as_bytes, ENC)
    assert fast.root == slow.root
    assert sorted(expected) == sorted(fast.leaf(i) for i in range(len(values)))
    assert all(fast.leaf(i) == expected[i] for i in range(len(values)))


def test_reference_root_by_hand():
    """A 3-leaf tree computed from the definition: leaves sorted, pairs hashed sorted, OZ's heap layout."""
    values = [["0x" + f"{i:064x}", "0x" + f"{i + 1:040x}"] for i in range(3)]
    leaves = sorted(keccak(keccak(abi_encode(ENC, [bytes.fromhex(v[0][2:]), v[1]]))) for v in values)
    # heap: tree = [root, n1, l2, l1, l0] with ascending leaves stored from the end backwards
    n1 = hash_pair(leaves[1], leaves[0])
    root = hash_pair(n1, leaves[2])
    tree = StandardMerkleTree(values, ENC)
    assert tree.root == root
    for i, v in enumerate(values):
        assert process_proof(leaf_hash(ENC, v), tree.proof(i)) == root


def test_address_uint_leaves_and_checksum_case():
    values = [["0x" + "ab" * 20, 5], ["0x" + "CD" * 20, 10**30]]
    tree = StandardMerkleTree(values, ["address", "uint256"])
    for i, v in enumerate(values):
        assert encode_leaf(["address", "uint256"], v) == abi_encode(["address", "uint256"], [v[0].lower(), v[1]])
        assert tree.verify(i, tree.proof(i))
    lower = StandardMerkleTree([[v[0].lower(), v[1]] for v in values], ["address", "uint256"])
    assert lower.root == tree.root


def test_dump_load_round_trip_and_inconsistent_dump_rejected():
    values = [["0x" + f"{i:064x}", "0x" + f"{i:040x}"] for i in range(1, 6)]
    tree = StandardMerkleTree(values, ENC)
    dump = tree.dump()
    again = StandardMerkleTree.load(dump)
    assert again.root == tree.root and again.values == tree.values
    dump["tree"][0] = "0x" + "00" * 32
    with pytest.raises(ValueError, match="inconsistent"):
        StandardMerkleTree.load(dump)
    with pytest.raises(ValueError, match="format"):
        StandardMerkleTree.load({**tree.dump(), "format": "simple-v1"})


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ([["0x" + "00" * 31, "0x" + "11" * 20]], "expected 32 bytes"),
        ([["0x" + "00" * 32, "0x" + "11" * 19]], "expected 20 bytes"),
        ([["0x" + "00" * 32]], "encoding"),
        ([["00" * 32, "0x" + "11" * 20]], "0x-hex"),
    ],
)
def test_malformed_leaves_raise(values, message):
    with pytest.raises((ValueError, TypeError), match=message):
        StandardMerkleTree(values, ENC)


def test_empty_tree_raises():
    with pytest.raises(ValueError, match="at least one leaf"):
        StandardMerkleTree([], ENC)


def test_from_columns_equals_rows_and_gc_state_is_restored():
    import gc

    hashes = ["0x" + f"{i:064x}" for i in range(1, 9)]
    addresses = ["0x" + f"{i % 3:040x}" for i in range(8)]
    rows = StandardMerkleTree([[h, a] for h, a in zip(hashes, addresses, strict=True)], ENC)
    assert StandardMerkleTree.from_columns([hashes, addresses], ENC).root == rows.root
    assert gc.isenabled()
    gc.disable()
    try:
        StandardMerkleTree.from_columns([hashes, addresses], ENC)
        assert not gc.isenabled()  # a caller's choice is kept
    finally:
        gc.enable()
    with pytest.raises(ValueError):
        StandardMerkleTree.from_columns([hashes, addresses[:-1]], ENC)
