"""Serving costs, measured side by side in one process on the runs given (round-robin rounds, median):

- mixed batches: one batch of `--batch` generation requests spread over every served adapter, against the same
  batch on one adapter (PEFT mixed-adapter batch, `adapter_names=`): throughput ratio, goal >= 0.8;
- receipt cost: an answer plus its whole receipt (one forward+backward per member and one mat-vec with the training
  side prepared beforehand, proofs, shares, signature, the store's durable write) against the answer alone: time
  ratio, goal <= 3.

    .venv/bin/python experiments/serve_bench/run.py RUN_DIR [RUN_DIR ...] [--batch 16] [--rounds 5]

Run it from the project directory the runs were made in (their Datanets are recorded relative to it).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from eth_account import Account

from olab.serve.app import Receipts
from olab.serve.config import ServeConfig
from olab.serve.engine import Engine, Job
from olab.serve.receipts import KEY_ENV
from olab.serve.registry import Registry, register_runs

PROMPT = "Markets rally as rates fall"


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--max-tokens", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()

    registry = Registry(register_runs(args.runs))
    names = sorted(a for a, s in registry.adapters.items() if s.task == "causal_lm")
    res = registry.resident(names[0])
    for n in names:
        registry.resident(n)
    ids = res.tokenizer(PROMPT)["input_ids"]
    engine = Engine(registry, max_batch=args.batch, max_wait_ms=1000)

    def batch(spread: list[str]) -> None:
        jobs = [Job(adapter=spread[i % len(spread)], kind="generate", ids=ids, max_tokens=args.max_tokens)
                for i in range(args.batch)]  # fmt: skip
        futures = [engine.submit(j) for j in jobs]
        for f in futures:
            f.result()
        assert len(engine.batches[-1]) == args.batch, "the batch was split; raise max_wait_ms"

    os.environ.setdefault(KEY_ENV, "0x" + Account.create().key.hex().removeprefix("0x"))  # a throwaway signing key
    store = Path(tempfile.mkdtemp(prefix="serve-bench-")) / "receipts.sqlite"
    receipts = Receipts(registry, ServeConfig(receipts=str(store)))
    one = [Job(adapter=names[0], kind="generate", ids=ids, max_tokens=args.max_tokens)]

    alone = Engine(registry, max_batch=1, max_wait_ms=0)  # a single answer does not wait for a batch to fill

    def answer() -> str:
        return alone.submit(Job(**{**one[0].__dict__, "future": type(one[0].future)()})).result().text

    def answer_and_receipt() -> None:  # scores, top records with proofs, shares, signature, durable store write
        receipts.issue(names[0], {"kind": "completion"}, PROMPT, answer())

    batch(names), batch(names[:1]), answer_and_receipt()  # warm-up
    rounds = {"one_adapter": [], "mixed": [], "answer": [], "answer_receipt": []}
    for _ in range(args.rounds):
        rounds["one_adapter"].append(timed(lambda: batch(names[:1])))
        rounds["mixed"].append(timed(lambda: batch(names)))
        rounds["answer"].append(timed(answer))
        rounds["answer_receipt"].append(timed(answer_and_receipt))
    engine.close()
    alone.close()
    med = {k: statistics.median(v) for k, v in rounds.items()}
    out = {
        "adapters_in_mixed_batch": len(names),
        "batch": args.batch,
        "median_s": med,
        "mixed_vs_one_adapter_throughput": med["one_adapter"] / med["mixed"],
        "answer_plus_receipt_vs_answer": med["answer_receipt"] / med["answer"],
    }
    path = Path(__file__).parent / "out" / "results.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(out, indent=2))
    print(json.dumps(med))
    print(f"mixed batch over {len(names)} adapters vs one adapter: {out['mixed_vs_one_adapter_throughput']:.2f}x "
          f"throughput; answer + receipt vs answer alone: {out['answer_plus_receipt_vs_answer']:.2f}x time")  # fmt: skip


if __name__ == "__main__":
    main()
