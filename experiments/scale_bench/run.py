"""Scale-out benchmark: attribution on Ray against the local executor, and the memory of blocked scoring.

    .venv/bin/python experiments/scale_bench/run.py             # 1,024 and 4,096 examples on 1 and 2 workers; 10k..1M rows
    .venv/bin/python experiments/scale_bench/run.py --quick     # a smoke run (tests/test_experiments_scale_bench.py)

Speed: per job size in --examples, one attribution (MiniLM + LoRA r=8 fine-tuned briefly on the quickstart's
synthetic headlines, 32 targets, k = 2048, 64 tokens, 8 training shards: --examples / 8 rows each) run three times
in this process: the local executor with one torch thread, then executor 'ray' with 1 and with 2 single-threaded
workers. Ray itself is started once before the timings, as a running cluster would be; the actors (each a fresh
process importing torch, transformers and PEFT, loading the model and drawing the projection) start inside the
timed calls. Prints, per size, the speed-up from 1 to 2 workers, Ray's overhead against the local executor with
one worker (and its extra seconds: the fixed per-job cost shows as the job shrinks), and whether the three score
matrices are bit-identical.

Memory: for each size in --rows, a fresh process writes rows × k synthetic features to disk batch by batch (as
featurization does, ΦᵀΦ accumulated the same way), then scores them against --targets targets in blocks with
`trak.score` (the local executor's scorer; Ray workers run the same `Scorer.block` on the same blocks) into a
rows × targets scores .npy on disk, and reports its peak resident memory. The load average is printed beside both,
since this box is shared.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from olab.errors import exit_on_error

OUT = Path(__file__).parent / "out"
BATCH = 16  # attribution batch; a shard is at least one batch
FULL = {"examples": [1024, 4096], "targets": 32, "max_length": 64, "proj_dim": 2048, "shards": 8,
        "rows": [10_000, 100_000, 1_000_000], "score_targets": 1000, "k": 256}  # fmt: skip
QUICK = {"examples": [32], "targets": 8, "max_length": 32, "proj_dim": 128, "shards": 4,
         "rows": [1_000, 4_000], "score_targets": 50, "k": 32}  # fmt: skip


def load() -> str:
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def speed(p: dict, work: Path, address: str | None = None) -> list[dict]:
    """Per job size, the wall time of the same attribution on the local executor and on Ray with 1 and 2 workers."""
    import ray
    import torch

    from olab.adapters import finetune
    from olab.attribution import attribute
    from olab.attribution.ray_executor import connect
    from olab.datanet.synth import LABELS, generate

    torch.set_num_threads(1)
    everything, targets = generate(max(p["examples"]), seed=0), generate(p["targets"], seed=1)
    ft = {"base_model": "all-MiniLM-L6-v2", "epochs": 1, "batch_size": 16, "max_length": p["max_length"],
          "checkpoints": 1, "eval_fraction": 0.0, "device": "cpu"}  # fmt: skip
    adapter = finetune(everything.select(range(min(64, len(everything)))), LABELS, ft, work / "adapter", progress=False)
    connect(address, 2)
    sizes = []
    try:
        for examples in p["examples"]:
            train = everything.select(range(examples))
            cfg = {"proj_dim": p["proj_dim"], "max_length": p["max_length"], "batch_size": BATCH, "device": "cpu",
                   "shard_size": max(BATCH, examples // p["shards"])}  # fmt: skip
            runs = {}
            for name, extra in (("local", {}), ("ray-1", {"executor": "ray", "num_workers": 1}),
                                ("ray-2", {"executor": "ray", "num_workers": 2})):  # fmt: skip
                print(f"[scale] {name}: attributing {examples} x {p['targets']} ({load()})", flush=True)
                t0 = time.perf_counter()
                result = attribute(
                    adapter, train, targets, {**cfg, **extra}, work / f"{name}-{examples}", progress=False
                )
                seconds = time.perf_counter() - t0
                timings = {k: round(v, 2) for k, v in result.params["timings"].items()}
                runs[name] = {"seconds": seconds, "scores_hash": result.scores_hash, "timings": timings}
                print(
                    f"[scale] {name}: {seconds:.1f}s ({', '.join(f'{k} {v}' for k, v in timings.items())})", flush=True
                )
            sizes.append({
                "examples": examples, "shard_size": cfg["shard_size"], "runs": runs,
                "speedup_1_to_2_workers": runs["ray-1"]["seconds"] / runs["ray-2"]["seconds"],
                "ray_overhead_1_worker": runs["ray-1"]["seconds"] / runs["local"]["seconds"],
                "ray_extra_seconds_1_worker": runs["ray-1"]["seconds"] - runs["local"]["seconds"],
                "identical": len({r["scores_hash"] for r in runs.values()}) == 1,
            })  # fmt: skip
    finally:
        ray.shutdown()
    return sizes


def memory_child(rows: int, k: int, n_targets: int, work: Path) -> dict:
    """In a fresh process: synthetic features to disk, blocked scoring to disk; peak RSS."""
    import torch

    from olab.attribution.trak import Member, NpyRows, score, write_features

    torch.set_num_threads(1)
    batch = 4096

    def batches(n: int, seed: int):
        gen = torch.Generator().manual_seed(seed)
        for start in range(0, n, batch):
            yield torch.randn(min(batch, n - start), k, generator=gen)

    def featurize(b):
        return b, torch.ones(b.shape[0])

    t0 = time.perf_counter()
    train = write_features(featurize, batches(rows, 0), rows, k, work / "train.npy", shard_rows=64 * batch)
    targets = write_features(featurize, batches(n_targets, 1), n_targets, k, work / "targets.npy")
    t1 = time.perf_counter()
    scores = NpyRows(work / "scores.npy", shape=(rows, n_targets))
    score([Member(train, targets)], 100.0, scores, block_size=4096)
    t2 = time.perf_counter()
    return {"rows": rows, "k": k, "targets": n_targets, "features_gib": rows * k * 4 / 2**30,
            "scores_gib": rows * n_targets * 4 / 2**30, "featurize_s": t1 - t0, "score_s": t2 - t1,
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}  # fmt: skip


def memory(p: dict, work: Path) -> list[dict]:
    out = []
    for rows in p["rows"]:
        with tempfile.TemporaryDirectory(dir=work) as tmp:
            args = [sys.executable, __file__, "--memory-child", str(rows), str(p["k"]), str(p["score_targets"]), tmp]
            res = subprocess.run(args, capture_output=True, text=True, check=False)
            if res.returncode != 0:
                raise SystemExit(f"memory run at {rows} rows failed:\n{res.stderr[-2000:]}")
            row = json.loads(res.stdout.strip().splitlines()[-1])
        row["load"] = load()
        print(f"[scale] scoring {rows:,} x {p['score_targets']:,} (k={p['k']}): peak RSS {row['peak_rss_mib']:,.0f} MiB, "
              f"score {row['score_s']:.1f}s ({row['load']})", flush=True)  # fmt: skip
        out.append(row)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="Tiny sizes: a smoke run.")
    parser.add_argument("--out", type=Path, default=OUT, help="Where results.json goes.")
    parser.add_argument(
        "--examples", type=int, nargs="+", default=None, help="Job sizes (training examples) of the speed part "
        "(default 1,024 and 4,096): Ray's fixed per-job cost amortizes as the job grows.",
    )  # fmt: skip
    parser.add_argument("--skip-speed", action="store_true", help="Only the memory part (no Ray needed).")
    parser.add_argument("--skip-memory", action="store_true", help="Only the speed part.")
    parser.add_argument("--ray-address", default=None, help="A running Ray (2 CPUs) to use; default: start one.")
    parser.add_argument("--memory-child", nargs=4, metavar=("ROWS", "K", "TARGETS", "DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_child:
        rows, k, n_targets, tmp = args.memory_child
        print(json.dumps(memory_child(int(rows), int(k), int(n_targets), Path(tmp))))
        return 0
    p = {**(QUICK if args.quick else FULL), **({"examples": args.examples} if args.examples else {})}
    args.out.mkdir(parents=True, exist_ok=True)
    results = {"params": p, "cpus": os.cpu_count(), "load_before": load()}
    with tempfile.TemporaryDirectory() as tmp:
        if not args.skip_speed:
            results["speed"] = speed(p, Path(tmp), args.ray_address)
        if not args.skip_memory:
            results["memory"] = memory(p, Path(tmp))
    results["load_after"] = load()
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    for s in results.get("speed", []):
        print(f"{s['examples']:,} examples (shards of {s['shard_size']}): local {s['runs']['local']['seconds']:.1f}s, "
              f"Ray 1 worker {s['runs']['ray-1']['seconds']:.1f}s, 2 workers {s['runs']['ray-2']['seconds']:.1f}s; "
              f"speed-up 1 -> 2 workers: {s['speedup_1_to_2_workers']:.2f}x (goal >= 1.6); Ray overhead with one "
              f"worker: {s['ray_overhead_1_worker']:.2f}x the local executor (goal <= 1.15), "
              f"{s['ray_extra_seconds_1_worker']:+.1f}s; scores bit-identical: {s['identical']}")  # fmt: skip
    if "memory" in results:
        biggest = results["memory"][-1]
        print(f"blocked scoring {biggest['rows']:,} x {biggest['targets']:,}: peak {biggest['peak_rss_mib'] / 1024:.2f} GiB "
              f"(goal < 8 GiB)")  # fmt: skip
    print(f"{results['load_before']} before, {results['load_after']} after")
    return 0


if __name__ == "__main__":
    with exit_on_error():
        sys.exit(main())
