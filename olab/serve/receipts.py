"""Attribution receipts: which training records (and so which contributors) shaped one served answer, signed.

A receipt's *body* names the run, the adapter and its committed hash, the Datanet version and root, the keccak256
of the prompt and of the answer, the top-k training records by TRAK score (record id, contributor, record hash,
score, Merkle inclusion proof against the Datanet root), the contributors' shares of this answer in ppm (the run's
rewards policy, olab.rewards, applied to those records' scores), the fee, how the run splits it (`fee_split`),
the chain id of the signing domain and a timestamp. `receipt_id` is the keccak256 of the body's canonical JSON;
the server signs the EIP-712 message (receipt_id, run id, timestamp) under that chain id with the key in
$OLAB_SERVE_KEY, so a receipt store alone is enough to check every signature. `problems(receipt, ...)` names
every link that does not hold.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
from eth_account import Account
from eth_account.messages import SignableMessage, encode_typed_data

from olab.errors import ConfigError
from olab.hashing import canonical_json, keccak
from olab.ledger.config import OPENLEDGER_TESTNET_CHAIN_ID

KEY_ENV = "OLAB_SERVE_KEY"
RECEIPT_VERSION = 1
DOMAIN = {"name": "olab serve receipts", "version": str(RECEIPT_VERSION)}
TYPES = {"Receipt": [{"name": "receiptId", "type": "bytes32"}, {"name": "runId", "type": "bytes32"},
                     {"name": "timestamp", "type": "uint64"}]}  # fmt: skip
SIGNED = ("receipt_id", "signer", "signature")  # fields outside the body; "inputs" is the stored text, not signed


def hex_keccak(text: str) -> str:
    return "0x" + keccak(text.encode()).hex()


def signing_key() -> Any:
    """The server's signing account, from $OLAB_SERVE_KEY (never from a config or the command line)."""
    from olab.secrets import looks_like_private_key

    value = os.environ.get(KEY_ENV, "")
    if not looks_like_private_key(value):
        raise ConfigError(
            f"receipts are signed with the key in ${KEY_ENV}: set it to a 0x-prefixed 64-hex-digit private key "
            "(it is read from the environment only, never written anywhere)"
        )
    return Account.from_key(value.strip())


def body(
    *,
    run: Any,
    member: int,
    scores: np.ndarray,
    example: Mapping[str, Any],
    prompt: str,
    output: str,
    fee: int,
    top_k: int,
    scored_on: str = "cpu",
    timestamp: int | None = None,
) -> dict[str, Any]:
    """The unsigned receipt for one answer; `scores` are the answer's TRAK scores of the run's training records."""
    datanet = run.datanet
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")[:top_k]
    ids = datanet.table.column("record_id").to_pylist()
    records = []
    for row in order.tolist():
        proof = datanet.proof(ids[row])
        records.append({"record_id": proof["record_id"], "contributor": proof["contributor"],
                        "record_hash": proof["record_hash"], "score": float(scores[row]), "proof": proof["proof"]})  # fmt: skip
    m = run.manifest
    out = {
        "version": RECEIPT_VERSION,
        "run_id": m.run_id,
        "adapter": {"member": member, "hash": m.adapter.models[member]},
        "datanet": {"name": m.datanet.name, "version": m.datanet.version, "root": m.datanet.root},
        "example": dict(example),
        "prompt_hash": hex_keccak(prompt),
        "output_hash": hex_keccak(output),
        "records": records,
        "fee": int(fee),
        "fee_split": fee_split_of(run),
        "scored_on": scored_on,  # the device kind the scores were computed on: they recompute bit for bit on the same
        "chain_id": chain_id_of(run),  # the EIP-712 domain's chain id the server signs under
        "timestamp": int(time.time()) if timestamp is None else int(timestamp),
        "nonce": "0x" + secrets.token_hex(16),  # two equal answers in one second still get distinct receipts
    }
    out["shares_ppm"] = shares_ppm(out["records"], run.config.rewards)
    return out


def fee_split_of(run: Any) -> dict[str, Any] | None:
    """How the run divides an answer's fee (its `rewards.split`, olab.rewards.FeeSplit), as the receipt states it;
    None: all of it to the contributors."""
    split = run.config.rewards.split
    return None if split is None else split.model_dump(mode="json")


def shares_ppm(records: list[Mapping[str, Any]], rewards_cfg: Any) -> dict[str, int]:
    """Each contributor's share of this answer in ppm: the run's rewards policy over the named records' scores
    (empty when no named record has positive influence: nobody earns from this answer)."""
    import pandas as pd

    from olab.rewards import compute

    frame = pd.DataFrame({"record_id": [r["record_id"] for r in records],
                          "contributor": [r["contributor"] for r in records],
                          "influence": [r["score"] for r in records]})  # fmt: skip
    if not (frame["influence"] > 0).any():
        return {}
    cfg = rewards_cfg.model_copy(update={"split": None})  # the fee split is applied when an epoch settles
    if cfg.policy != "per_record":  # the contributor-level policies read a contributor table
        frame["total"], frame["positive"] = frame["influence"], frame["influence"].clip(lower=0)
        frame = frame.groupby("contributor", sort=False)[["total", "positive"]].sum().reset_index()
    return compute(frame, cfg).as_dict()


def _message(receipt_id: str, run_id: str, timestamp: int, chain_id: int) -> SignableMessage:
    return encode_typed_data(
        {**DOMAIN, "chainId": chain_id}, TYPES,
        {"receiptId": bytes.fromhex(receipt_id[2:]), "runId": bytes.fromhex(run_id[2:]), "timestamp": timestamp},
    )  # fmt: skip


def receipt_id(b: Mapping[str, Any]) -> str:
    return "0x" + keccak(canonical_json({k: v for k, v in b.items() if k not in (*SIGNED, "inputs")})).hex()


def chain_id_of(run: Any) -> int:
    return run.manifest.chain.chain_id or OPENLEDGER_TESTNET_CHAIN_ID


def sign(b: dict[str, Any], account: Any, chain_id: int) -> dict[str, Any]:
    rid = receipt_id(b)
    signed = account.sign_message(_message(rid, b["run_id"], b["timestamp"], chain_id))
    return {**b, "receipt_id": rid, "signer": account.address, "signature": "0x" + signed.signature.hex()}


def problems(receipt: Mapping[str, Any], run: Any = None, scorer: Any = None, signer: str | None = None) -> list[str]:
    """Every broken link of `receipt`, in order (empty: it holds). With `run`: the run, adapter and Datanet it names,
    each record against the Datanet; with `scorer` (an AnswerScorer of that adapter) and the receipt's `inputs`:
    the scores recompute exactly. `signer`: the address the server is known to sign with."""
    from olab.datanet.records import verify_record_proof

    out: list[str] = []
    b = {k: v for k, v in receipt.items() if k not in (*SIGNED, "inputs")}
    if receipt.get("receipt_id") != receipt_id(b):
        out.append(f"receipt_id: the body hashes to {receipt_id(b)}, not {receipt.get('receipt_id')} (a field changed)")
    try:
        chain = signing_chain_id(b, run)
        found = Account.recover_message(_message(receipt["receipt_id"], b["run_id"], b["timestamp"], chain),
                                        signature=receipt["signature"])  # fmt: skip
    except Exception as e:  # a malformed signature or id: the signature link is broken either way
        found = f"nothing ({type(e).__name__})"
    if found != receipt.get("signer") or (signer is not None and found != signer):
        out.append(f"signature: it recovers to {found}, not the server's {signer or receipt.get('signer')}")
    root = b.get("datanet", {}).get("root")
    for r in b.get("records", []):
        proof = {"record_id": r["record_id"], "record_hash": r["record_hash"], "contributor": r["contributor"],
                 "proof": r["proof"], "root": root}  # fmt: skip
        if not verify_record_proof(proof, root):
            out.append(f"record {r['record_id']}: its (record_hash, contributor) and proof do not reach root {root}")
    if run is not None:
        out += _against_run(b, run)
    if run is not None and b.get("shares_ppm") != shares_ppm(b.get("records", []), run.config.rewards):
        out.append("shares_ppm: the rewards policy over the named records' scores gives other shares")
    if scorer is not None and not out:
        out += _rescored(receipt, scorer, run)
    return out


def signing_chain_id(b: Mapping[str, Any], run: Any = None) -> int:
    """The chain id of the EIP-712 domain a receipt is signed under: the one its body states (for receipts written
    before it was recorded: the run's, else OpenLedger's testnet's)."""
    if "chain_id" in b:
        return int(b["chain_id"])
    return chain_id_of(run) if run is not None else OPENLEDGER_TESTNET_CHAIN_ID


def _against_run(b: Mapping[str, Any], run: Any) -> list[str]:
    m, out = run.manifest, []
    if "chain_id" in b and b["chain_id"] != chain_id_of(run):
        out.append(f"chain_id: the receipt is signed for chain {b['chain_id']}, the run's is {chain_id_of(run)}")
    if b.get("run_id") != m.run_id:
        out.append(f"run_id: the receipt names {b.get('run_id')}, the run is {m.run_id}")
    member = b.get("adapter", {}).get("member", -1)
    if not 0 <= member < len(m.adapter.models) or b["adapter"].get("hash") != m.adapter.models[member]:
        out.append(f"adapter: member {member} with hash {b.get('adapter', {}).get('hash')} is not the run's")
    if b.get("fee_split") != fee_split_of(run):
        out.append(
            f"fee_split: the receipt states {b.get('fee_split')}, the run's rewards.split is {fee_split_of(run)}"
        )
    if b.get("datanet", {}).get("root") != m.datanet.root:
        out.append(
            f"datanet root: the receipt names {b.get('datanet', {}).get('root')}, the run trained on {m.datanet.root}"
        )
    return out


def _rescored(receipt: Mapping[str, Any], scorer: Any, run: Any) -> list[str]:
    inputs = receipt.get("inputs") or {}
    if hex_keccak(inputs.get("prompt", "")) != receipt["prompt_hash"]:
        return ["inputs.prompt: does not hash to prompt_hash"]
    if hex_keccak(inputs.get("output", "")) != receipt["output_hash"]:
        return ["inputs.output: does not hash to output_hash"]
    scores = scorer.scores(*example_of(receipt["example"], inputs["prompt"], inputs["output"]))[:, 0]
    ids = run.datanet.table.column("record_id").to_pylist()
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")[: len(receipt["records"])]
    want = [(ids[row], float(scores[row])) for row in order.tolist()]
    got = [(r["record_id"], r["score"]) for r in receipt["records"]]
    return (
        [] if want == got else [f"scores: recomputed top records {want[:3]}... differ from the receipt's {got[:3]}..."]
    )


def example_of(example: Mapping[str, Any], prompt: str, output: str) -> tuple[list[Any], list[int] | None]:
    """(examples, labels) to score for an answer: a completion's prompt+output text, a chat's (prompt, output)
    pair, a classification's text with its predicted class id."""
    kind = example["kind"]
    if kind == "classify":
        return [prompt], [int(example["label"])]
    if kind == "chat":
        return [(prompt, output)], None
    return [prompt + output], None
