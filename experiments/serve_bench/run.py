"""Serving costs, measured side by side in one process on the runs given (round-robin rounds, median):

- mixed batches: one batch of `--batch` generation requests spread over 8 and over 32 distinct served adapters
  (`--spreads`), against the same batch on one adapter (PEFT mixed-adapter batch, `adapter_names=`): throughput
  ratio, goal >= 0.8, and generated tokens/s on the device the base model is on;
- receipt cost: an answer plus its whole receipt (one forward+backward per member and one mat-vec with the training
  side prepared beforehand, proofs, shares, signature, the store's durable write) against the answer alone: time
  ratio, goal <= 3.

    .venv/bin/python experiments/serve_bench/run.py RUN_DIR [RUN_DIR ...] [--batch 32] [--spreads 8 32] [--rounds 5]

Run it from the project directory the runs were made in (their Datanets are recorded relative to it). The runs
must hold at least max(--spreads) causal-LM adapters in all (e.g. two runs of `run.models: 16` that differ in
LoRA rank; README.md).
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

from olab.errors import exit_on_error
from olab.io import atomic_write_json
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
    ap.add_argument("--batch", type=int, default=32, help="requests per batch (at least the largest spread)")
    ap.add_argument("--spreads", type=int, nargs="+", default=[8, 32], help="distinct adapters a mixed batch spans")
    ap.add_argument("--max-tokens", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--no-receipt", action="store_true",
                    help="mixed batches only (runs without an attribution, e.g. coldload.py's adapters)")  # fmt: skip
    args = ap.parse_args()

    registry = Registry(register_runs(args.runs), max_resident=max(args.spreads))
    names = sorted(a for a, s in registry.adapters.items() if s.task == "causal_lm")
    if len(names) < max(args.spreads) or args.batch < max(args.spreads):
        raise SystemExit(
            f"--spreads {max(args.spreads)} needs that many causal-LM adapters and --batch of at least as many; the "
            f"runs given serve {len(names)} and --batch is {args.batch} (more runs, or runs with more run.models)"
        )
    res = registry.resident(names[0])
    for n in names[: max(args.spreads)]:  # loaded beforehand: the batches measure serving, not cold loads
        registry.resident(n)
    ids = res.tokenizer(PROMPT)["input_ids"]
    engine = Engine(registry, max_batch=args.batch, max_wait_ms=1000)

    tokens: dict[str, int] = {}

    def batch(key: str, spread: list[str]) -> None:
        jobs = [Job(adapter=spread[i % len(spread)], kind="generate", ids=ids, max_tokens=args.max_tokens)
                for i in range(args.batch)]  # fmt: skip
        futures = [engine.submit(j) for j in jobs]
        tokens[key] = sum(f.result().completion_tokens for f in futures)
        assert len(engine.batches[-1]) == args.batch, "the batch was split; raise max_wait_ms"
        assert len(set(engine.batches[-1])) == len(spread), "the batch did not span the adapters asked for"

    os.environ.setdefault(KEY_ENV, "0x" + Account.create().key.hex().removeprefix("0x"))  # a throwaway signing key
    store = Path(tempfile.mkdtemp(prefix="serve-bench-")) / "receipts.sqlite"
    receipts = Receipts(registry, ServeConfig(receipts=str(store)))
    one = [Job(adapter=names[0], kind="generate", ids=ids, max_tokens=args.max_tokens)]

    alone = Engine(registry, max_batch=1, max_wait_ms=0)  # a single answer does not wait for a batch to fill

    def answer() -> str:
        return alone.submit(Job(**{**one[0].__dict__, "future": type(one[0].future)()})).result().text

    def answer_and_receipt() -> None:  # scores, top records with proofs, shares, signature, durable store write
        receipts.issue(names[0], {"kind": "completion"}, PROMPT, answer())

    spreads = {"one_adapter": names[:1], **{f"mixed_{n}": names[:n] for n in args.spreads}}
    for key, spread in spreads.items():  # warm-up
        batch(key, spread)
    answers = () if args.no_receipt else ("answer", "answer_receipt")
    if answers:
        answer_and_receipt()
    rounds = {**{key: [] for key in spreads}, **{key: [] for key in answers}}
    order = list(spreads)
    for i in range(args.rounds):
        for key in order[i % len(order) :] + order[: i % len(order)]:  # each round starts with another batch
            rounds[key].append(timed(lambda key=key: batch(key, spreads[key])))
        for key in answers[:: 1 if i % 2 else -1]:
            rounds[key].append(timed(answer if key == "answer" else answer_and_receipt))
    engine.close()
    alone.close()
    med = {k: statistics.median(v) for k, v in rounds.items()}
    device = str(next(registry.resident(names[0]).model.parameters()).device)
    out = {
        "base": registry.adapters[names[0]].base,
        "device": device,
        "adapters_served": len(names),
        "batch": args.batch,
        "max_tokens": args.max_tokens,
        "median_s": med,
        "rounds_s": rounds,
        "tokens_per_s": {k: tokens[k] / med[k] for k in spreads},
        "mixed_vs_one_adapter_throughput": {n: med["one_adapter"] / med[f"mixed_{n}"] for n in args.spreads},
        "answer_plus_receipt_vs_answer": med["answer_receipt"] / med["answer"] if answers else None,
        "load_average": os.getloadavg(),
    }
    path = Path(__file__).parent / "out" / "results.json"
    path.parent.mkdir(exist_ok=True)
    atomic_write_json(path, out)
    print(json.dumps(med))
    print(f"{out['base']} on {device}, batch {args.batch} x {args.max_tokens} new tokens; one adapter: "
          f"{out['tokens_per_s']['one_adapter']:.1f} tokens/s; load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    for n, ratio in out["mixed_vs_one_adapter_throughput"].items():
        print(f"mixed batch over {n} adapters vs one adapter: {ratio:.2f}x throughput "
              f"({out['tokens_per_s'][f'mixed_{n}']:.1f} tokens/s)")  # fmt: skip
    if answers:
        print(f"answer + receipt vs answer alone: {out['answer_plus_receipt_vs_answer']:.2f}x time")


if __name__ == "__main__":
    with exit_on_error():
        main()
