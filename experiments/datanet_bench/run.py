"""Datanet benchmark: build a large Datanet and time build, Merkle tree and verify, side by side with the
floor of tree building, the bare cost of hashing the leaves.

    .venv/bin/python experiments/datanet_bench/run.py                    # 100,000 records
    .venv/bin/python experiments/datanet_bench/run.py --records 20000 --repeats 1

Floor: keccak256(keccak256(leaf)) over the already ABI-encoded leaves, with nothing else (no encoding,
no sorting, no inner nodes). Tree: `build_tree` from the stored 0x-hex record hashes and addresses, as
`verify` and `proof` run it. Times are the best of `--repeats` interleaved runs. Results go to out/results.json.

keccak comes from eth_hash, which picks pycryptodome when both it and pysha3 are installed; pysha3 is
several times faster: `ETH_HASH_BACKEND=pysha3 .venv/bin/python experiments/datanet_bench/run.py`.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from eth_hash.auto import keccak as eth_keccak

from olab.datanet import Datanet
from olab.datanet.records import LEAF_ENCODING, build_tree
from olab.errors import exit_on_error
from olab.hashing import keccak
from olab.merkle import encode_leaf

OUT = Path(__file__).parent / "out"


def best_of(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Best time of each function over `repeats` rounds; rounds interleave the functions, so a burst of load
    on a shared machine hits them alike and the ratio stays a side-by-side comparison."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: min(ts) for name, ts in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000, help="Records in the Datanet.")
    parser.add_argument("--contributors", type=int, default=100, help="Simulated contributors.")
    parser.add_argument("--repeats", type=int, default=5, help="Timed runs of tree, floor and verify (best is kept).")
    parser.add_argument("--out", type=Path, default=OUT, help="Where results.json is written.")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="datanet-bench-"))
    try:
        config = {
            "name": "bench",
            "root_dir": str(work),
            "source": {"kind": "synthetic", "n": args.records, "seed": 0},
            "contributors": {"n": args.contributors, "seed": 0, "strategy": "random"},
            "validation": {"reject_duplicates": False},  # the generator repeats itself at this size; keep every record
        }
        start = time.perf_counter()
        dn = Datanet.build(config, progress=False)
        build_s = time.perf_counter() - start
        n = len(dn)

        hashes = dn.table.column("record_hash").to_pylist()
        contributors = dn.table.column("contributor").to_pylist()
        encoded = [encode_leaf(LEAF_ENCODING, [h, c]) for h, c in zip(hashes, contributors, strict=True)]
        timed = best_of(
            {"floor": lambda: [keccak(keccak(e)) for e in encoded], "tree": lambda: build_tree(hashes, contributors)},
            args.repeats,
        )
        floor_s, tree_s = timed["floor"], timed["tree"]
        assert build_tree(hashes, contributors).root_hex == dn.root
        verify_s = best_of({"verify": lambda: Datanet.open(dn.path).verify()}, args.repeats)["verify"]
    finally:
        shutil.rmtree(work, ignore_errors=True)

    results = {
        "records": n,
        "keccak_backend": type(eth_keccak.hasher.__self__).__name__,  # resolved by eth_hash on first use
        "build_s": round(build_s, 3),
        "build_records_per_s": round(n / build_s),
        "tree_s": round(tree_s, 3),
        "tree_records_per_s": round(n / tree_s),
        "floor_s": round(floor_s, 3),
        "floor_records_per_s": round(n / floor_s),
        "tree_over_floor": round(tree_s / floor_s, 2),
        "verify_s": round(verify_s, 3),
        "verify_records_per_s": round(n / verify_s),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"Datanet benchmark: {n:,} records, keccak backend {results['keccak_backend']}")
    print(
        f"  build   {build_s:8.2f} s  {n / build_s:>10,.0f} records/s  (load, contributors, validate, hash, tree, write)"
    )
    print(f"  tree    {tree_s:8.2f} s  {n / tree_s:>10,.0f} records/s")
    print(f"  floor   {floor_s:8.2f} s  {n / floor_s:>10,.0f} records/s  (keccak(keccak(leaf)) only)")
    print(f"  verify  {verify_s:8.2f} s  {n / verify_s:>10,.0f} records/s")
    verdict = "within" if tree_s / floor_s <= 3 else "NOT within"
    print(f"  tree / floor = {tree_s / floor_s:.2f}x ({verdict} the 3x bar)")


if __name__ == "__main__":
    with exit_on_error():
        main()
