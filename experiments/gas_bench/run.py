"""Gas of every ledger operation at 10, 1,000 and 100,000 contributors.

For each size: a rewards tree with that many contributors (random addresses, shares summing to
1e6 ppm), then register a Datanet version, publish the run, attest, fund its pool and claim a
sample of shares. Publishing stores a fixed set of hashes, so its gas must not change with the
number of contributors; a claim checks a Merkle proof of ceil(log2 n) hashes, so its gas grows by
a constant per proof element. The script prints both ratios measured side by side in this run.

    .venv/bin/python experiments/gas_bench/run.py                     # embedded chain, 10/1k/100k
    .venv/bin/python experiments/gas_bench/run.py --backend anvil     # a running `olab chain up`
    .venv/bin/python experiments/gas_bench/run.py --sizes 10,1000 --claims 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from olab.errors import exit_on_error
from olab.io import atomic_write_json
from olab.ledger import ChainConfig, Ledger, RunCommitment
from olab.merkle import StandardMerkleTree
from olab.rewards import LEAF_ENCODING

OUT = Path(__file__).resolve().parent / "out"


def shares(n: int, rng: np.random.Generator) -> list[list]:
    """n random addresses with positive ppm shares summing to exactly 1e6."""
    if n > 1_000_000:
        raise SystemExit(f"at most 1,000,000 contributors fit in integer ppm shares, got {n}")
    weights = rng.random(n) + 0.1
    ppm = np.maximum(1, np.floor(weights / weights.sum() * 1_000_000)).astype(np.int64)
    ppm[np.argmax(ppm)] += 1_000_000 - int(ppm.sum())
    return [["0x" + rng.bytes(20).hex(), int(p)] for p in ppm]


def bench_size(ledger: Ledger, reviewer: Ledger, n: int, claims: int, rng: np.random.Generator) -> dict:
    t0 = time.perf_counter()
    values = shares(n, rng)
    tree = StandardMerkleTree(values, LEAF_ENCODING)
    build_s = time.perf_counter() - t0
    h = lambda: "0x" + rng.bytes(32).hex()  # noqa: E731
    run = RunCommitment(h(), h(), h(), h(), tree.root_hex, h())
    name = f"bench-{n}-{os.urandom(3).hex()}"
    register = ledger.contract("DatanetRegistry").functions.registerDatanet(name)
    reg = ledger.transact(register, f"registerDatanet({name})")
    append = ledger.register_datanet_version(name, 1, run.datanet_root, None, n, n, h(), "bench://")
    publish = ledger.publish_run(run)
    attest = reviewer.attest(run.run_id, tree.root_hex, 0, 1.0)
    ledger.mint(ledger.account, 10**24)  # mint and approve first, so `fund` below is the fund call alone
    ledger.transact(
        ledger.contract("TestToken").functions.approve(ledger.addresses["RewardDistributor"], 10**24), "approve"
    )
    fund = ledger.fund(run.run_id, 10**24)
    picks = rng.choice(n, size=min(claims, n), replace=False)
    claim_gas, depths = [], []
    for i in picks:
        proof = tree.proof(int(i))
        r = reviewer.claim(run.run_id, values[i][0], values[i][1], proof)  # submitted by someone else
        claim_gas.append(r.gas_used)
        depths.append(len(proof))
    return {
        "contributors": n,
        "tree_build_s": round(build_s, 3),
        "register_gas": reg.gas_used,
        "append_version_gas": append.gas_used,
        "publish_gas": publish.gas_used,
        "attest_gas": attest.gas_used,
        "fund_gas": fund.gas_used,
        "first_claim_gas": claim_gas[0],  # also pays for the run's first claim counters
        "claim_gas_median": int(statistics.median(claim_gas[1:] or claim_gas)),
        "claim_gas_all": claim_gas,
        "proof_lengths": depths,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10,1000,100000", help="comma-separated contributor counts")
    ap.add_argument("--claims", type=int, default=5, help="claims sampled per size")
    ap.add_argument("--backend", choices=["embedded", "anvil"], default="embedded")
    ap.add_argument("--state-dir", help="chain state dir (default: a fresh temporary one for embedded)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    state = args.state_dir or (tempfile.mkdtemp(prefix="olab-gas-") if args.backend == "embedded" else ".olab/chain")
    ledger = Ledger(ChainConfig(backend=args.backend, state_dir=state))
    reviewer = ledger.with_signer(1)
    rng = np.random.default_rng(args.seed)
    # warm-up (not reported): the very first publish, fund and claim also initialise contract-wide
    # counters and balances, which would be charged to whichever size ran first
    bench_size(ledger, reviewer, 4, 2, rng)
    rows = [bench_size(ledger, reviewer, n, args.claims, rng) for n in sizes]

    cols = ["register", "append_version", "publish", "attest", "fund", "first_claim", "claim_gas_median"]
    print(f"gas on {ledger.backend} (chain {ledger.chain_id}); claims: median of {args.claims - 1} after the first")
    print(
        f"{'contributors':>12} {'proof':>5} "
        + " ".join(f"{c.replace('_gas_median', '').replace('_', ' '):>14}" for c in cols)
    )
    for r in rows:
        gas = [r[c if c.endswith("median") else f"{c}_gas"] for c in cols]
        print(f"{r['contributors']:>12,} {max(r['proof_lengths']):>5} " + " ".join(f"{g:>14,}" for g in gas))
    lo, hi = rows[0], rows[-1]
    per_level = (hi["claim_gas_median"] - lo["claim_gas_median"]) / max(
        1, statistics.median(hi["proof_lengths"]) - statistics.median(lo["proof_lengths"])
    )
    print(
        f"publish gas at {hi['contributors']:,} / at {lo['contributors']:,} contributors: "
        f"{hi['publish_gas'] / lo['publish_gas']:.3f} (constant in n)"
    )
    print(
        f"claim gas at {hi['contributors']:,} / at {lo['contributors']:,}: {hi['claim_gas_median'] / lo['claim_gas_median']:.3f}; "
        f"about {per_level:,.0f} gas per extra proof element (log2 n)"
    )
    out = Path(args.out)
    atomic_write_json(out / "gas.json", {"backend": ledger.backend, "chain_id": ledger.chain_id, "rows": rows})
    print(f"wrote {out / 'gas.json'}")


if __name__ == "__main__":
    with exit_on_error():
        main()
