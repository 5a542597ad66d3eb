"""Interoperability with OpenZeppelin's @openzeppelin/merkle-tree (run with node): same roots, proofs
from either side verify with the other's algorithm, OZ loads our dumps, and wrong proofs fail on both."""

from __future__ import annotations

import random

import pytest

from olab.datanet import Datanet, verify_record_proof
from olab.datanet.storage import TREE
from olab.merkle import StandardMerkleTree, verify_leaf

ENC = ["bytes32", "address"]


def random_leaves(n: int, seed: int) -> list[list[str]]:
    rng = random.Random(seed)
    return [["0x" + rng.randbytes(32).hex(), "0x" + rng.randbytes(20).hex()] for _ in range(n)]


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 33, 300])
def test_roots_and_proofs_agree_with_openzeppelin(oz, n):
    values = random_leaves(n, seed=n)
    ours = StandardMerkleTree(values, ENC)
    proofs, dump = [ours.proof(i) for i in range(n)], ours.dump()
    tampered = [[*p[:-1], "0x" + "00" * 32] for p in proofs[:3] if p]
    answer = oz(
        {
            "encoding": ENC,
            "values": values,
            "root": ours.root_hex,
            "proofs": [{"value": v, "proof": proofs[i]} for i, v in enumerate(values)]
            + [{"value": values[i], "proof": p} for i, p in enumerate(tampered)],
            "dump": dump,
        }
    )
    assert answer["root"] == ours.root_hex
    assert answer["verified"] == [True] * n + [False] * len(tampered)  # OZ checks our proofs, and rejects bad ones
    assert answer["treeIndex"] == [v["treeIndex"] for v in dump["values"]]
    for i, v in enumerate(values):  # we check OZ's proofs
        assert verify_leaf(ours.root_hex, ENC, v, answer["proofs"][i])
        assert not verify_leaf(ours.root_hex, ENC, values[(i + 1) % n], answer["proofs"][i]) or n == 1
    assert answer["loaded"]["root"] == ours.root_hex
    assert [[x.lower() for x in v] for v in answer["loaded"]["values"]] == [[x.lower() for x in v] for v in values]


def test_reward_style_leaves_agree_with_openzeppelin(oz):
    rng = random.Random(5)
    values = [["0x" + rng.randbytes(20).hex(), str(rng.randrange(10**6))] for _ in range(17)]
    ours = StandardMerkleTree([[a, int(p)] for a, p in values], ["address", "uint256"])
    answer = oz({"encoding": ["address", "uint256"], "values": values})
    assert answer["root"] == ours.root_hex


def test_openzeppelin_rejects_a_corrupted_dump(oz):
    dump = StandardMerkleTree(random_leaves(4, seed=1), ENC).dump()
    dump["tree"][-1] = "0x" + "ab" * 32
    assert "error" in oz({"dump": dump})["loaded"]


def test_datanet_tree_and_proofs_verify_in_openzeppelin(oz, small: Datanet):
    table = small.table
    values = [
        [h, c]
        for h, c in zip(table.column("record_hash").to_pylist(), table.column("contributor").to_pylist(), strict=True)
    ]
    ids = table.column("record_id").to_pylist()
    proofs = [small.proof(rid) for rid in ids]
    dump = small.storage.read_json(f"v{small.version:04d}/{TREE}")
    answer = oz(
        {
            "encoding": small.manifest["leaf_encoding"],
            "values": values,
            "root": small.root,
            "proofs": [{"value": [p["record_hash"], p["contributor"]], "proof": p["proof"]} for p in proofs],
            "dump": dump,
        }
    )
    assert answer["root"] == small.root
    assert answer["loaded"]["root"] == small.root  # OZ's StandardMerkleTree.load reads the stored tree.json
    assert all(answer["verified"])
    for p, oz_proof in zip(proofs, answer["proofs"], strict=True):
        assert verify_record_proof({**p, "proof": oz_proof})
