"""Interoperability with tools olab does not control: OpenZeppelin's JS Merkle library and Foundry's cast."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from olab.ledger import Ledger, RunCommitment
from olab.merkle import StandardMerkleTree

ROOT = Path(__file__).resolve().parents[2]

OZ_SCRIPT = """
const { StandardMerkleTree } = require(process.argv[1]);
const values = JSON.parse(require("fs").readFileSync(0, "utf8"));
const tree = StandardMerkleTree.of(values, ["address", "uint256"]);
process.stdout.write(JSON.stringify({
  root: tree.root,
  proofs: values.map((_, i) => tree.getProof(i)),
  dump: tree.dump(),
}));
"""


def oz_tree(values: list[list]) -> dict:
    """Root, proofs (by value index) and dump computed by @openzeppelin/merkle-tree in node."""
    lib = ROOT / "node_modules" / "@openzeppelin" / "merkle-tree"
    if not lib.exists():
        pytest.skip(f"{lib} is not installed: run `npm install` in the project root (CI does)")
    out = subprocess.run(
        ["node", "-e", OZ_SCRIPT, str(lib)],
        input=json.dumps([[a, str(s)] for a, s in values]),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return json.loads(out.stdout)


def random_shares(n: int) -> list[list]:
    raw = [int.from_bytes(os.urandom(3), "big") + 1 for _ in range(n)]
    shares = [r * 1_000_000 // sum(raw) for r in raw]
    shares[0] += 1_000_000 - sum(shares)
    return [["0x" + os.urandom(20).hex(), s] for s in shares]


def test_openzeppelin_js_proofs_verify_and_claim_in_our_contracts(ledger):
    values = random_shares(37)
    js = oz_tree(values)
    assert StandardMerkleTree(values, ["address", "uint256"]).root_hex == js["root"]
    h = "sha256:" + "5a" * 32
    c = RunCommitment("0x" + os.urandom(32).hex(), h, h, h, js["root"], h)
    ledger.publish_run(c)
    for (address, share), proof in zip(values, js["proofs"], strict=True):
        assert ledger.verify_share(c.run_id, address, share, proof)
    assert not ledger.verify_share(c.run_id, values[0][0], values[0][1], js["proofs"][1])
    # a contributor claims with the proof OpenZeppelin's library made (found via its JSON dump)
    i = max(range(len(values)), key=lambda k: values[k][1])
    found = Ledger.prove_share(js["dump"], values[i][0])
    assert (found["share_ppm"], found["proof"], found["root"]) == (values[i][1], js["proofs"][i], js["root"])
    ledger.fund(c.run_id, 10**9)
    ledger.claim(c.run_id, values[i][0], values[i][1], js["proofs"][i])
    assert ledger.token_balance(values[i][0]) == values[i][1] * 10**9 // 10**6


def cast(node_tool, *args: str) -> str:
    out = subprocess.run([node_tool("cast"), *args], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


@pytest.mark.anvil
def test_cast_reads_a_published_run_without_olab(anvil_cfg, node_tool):
    ledger = Ledger(anvil_cfg)
    values = random_shares(9)
    tree = StandardMerkleTree(values, ["address", "uint256"])
    c = RunCommitment(
        "0x" + os.urandom(32).hex(),
        "sha256:" + os.urandom(32).hex(),
        "sha256:" + os.urandom(32).hex(),
        "sha256:" + os.urandom(32).hex(),
        tree.root_hex,
        "sha256:" + os.urandom(32).hex(),
    )
    r = ledger.publish_run(c)
    url = ledger.chain.url
    registry = ledger.addresses["AttributionRegistry"]
    sig = "getRun(bytes32)((bytes32,bytes32,bytes32,bytes32,bytes32,address,uint256,uint256))"
    out = cast(node_tool, "call", registry, sig, c.run_id, "--rpc-url", url)
    words = re.findall(r"0x[0-9a-fA-F]{64}", out)
    assert words == [c.datanet_root, c.adapter_hash, c.scores_hash, c.rewards_root, c.manifest_hash]
    assert ledger.account.lower() in out.lower()
    assert out.rstrip(")").split(", ")[-1].split()[0] == str(r.block)
    address, share = values[4]
    proof = "[" + ",".join(tree.proof(4)) + "]"
    verify = "verifyShare(bytes32,address,uint256,bytes32[])(bool)"
    assert cast(node_tool, "call", registry, verify, c.run_id, address, str(share), proof, "--rpc-url", url) == "true"
    assert (
        cast(node_tool, "call", registry, verify, c.run_id, address, str(share + 1), proof, "--rpc-url", url) == "false"
    )
    assert int(cast(node_tool, "chain-id", "--rpc-url", url)) == 161201
