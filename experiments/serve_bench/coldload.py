"""Cold loads with many registered adapters: `--adapters` (1,000) registered, `--resident` (32) loaded at once.

From one causal-LM or classifier run (the template), writes `--adapters` adapters as runs of `--per-run` members each:
the template's adapter files with fresh random LoRA weights, each run's manifest committing their real hashes (the
server's hash check passes honestly; the runs are unpublished, so the chain check is the configured chain's lack of
a record). Then serves them on one base model (olab.serve's Registry and Engine, `max_resident=--resident`) and sends
`--requests` requests one at a time, in a random order (uniform, or Zipf-skewed with `--zipf S`). Prints the p50/p95
cold-load time of an adapter (hash check + load, evicting the least recently used one), the share of it that is the
hash check, the hit rate, and a cold request's time against a warm one's, both measured in this run.

    .venv/bin/python experiments/serve_bench/coldload.py RUN_DIR [--adapters 1000] [--resident 32] [--requests 3000]
    .venv/bin/python experiments/serve_bench/coldload.py RUN_DIR --quick    # a smoke run in seconds
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from olab.adapters.adapter import ADAPTER_DIR, CHECKPOINTS_DIR, artifact_hash
from olab.errors import exit_on_error
from olab.hashing import hash_json
from olab.io import atomic_write_json, read_json
from olab.pipeline import Run
from olab.serve.engine import Engine, Job
from olab.serve.registry import Registry, register_runs

WEIGHTS = "adapter_model.safetensors"


def make_runs(template: Path, work: Path, adapters: int, per_run: int, seed: int) -> list[Path]:
    """`adapters` adapters in runs of `per_run` members under `work`/runs: the template's first adapter with random
    LoRA weights (the final adapter and its checkpoints alike), committed in each run's manifest by their hash."""
    run = Run.open(template)
    source = run.layout.adapter(0)
    manifest = read_json(run.layout.manifest)
    manifest.pop("chain", None)
    manifest["config"]["run"]["publish"] = False
    shapes = {k: (v.shape, v.dtype) for k, v in load_file(source / ADAPTER_DIR / WEIGHTS).items()}
    gen = torch.Generator().manual_seed(seed)
    dirs = []
    for r in range(-(-adapters // per_run)):
        members = min(per_run, adapters - r * per_run)
        run_dir = work / "runs" / f"cold{r:04d}"
        models = []
        for m in range(members):
            dest = run_dir / "adapters" / f"model-{m}"
            shutil.copytree(source, dest)
            weights = {k: (torch.randn(shape, generator=gen) * 0.05).to(dtype) for k, (shape, dtype) in shapes.items()}
            for path in [dest / ADAPTER_DIR / WEIGHTS, *(dest / CHECKPOINTS_DIR).glob(f"*/{WEIGHTS}")]:
                save_file(weights, str(path))
            models.append(artifact_hash(dest))
        manifest["adapter"]["models"], manifest["adapter"]["hash"] = models, hash_json(models)
        manifest["run_id"] = "0x" + hash_json({"template": run.run_id, "copy": r}).removeprefix("sha256:")
        atomic_write_json(run_dir / "manifest.json", manifest)
        dirs.append(run_dir)
    return dirs


def timed(fn: Callable[..., Any], into: list[float]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            into.append(time.perf_counter() - t0)

    return wrapper


def order(names: list[str], n: int, zipf: float, rng: np.random.Generator) -> list[str]:
    """`n` requests' adapters: uniform over `names`, or with popularity ~ 1/rank^zipf (ranks shuffled)."""
    if zipf <= 0:
        return [names[i] for i in rng.integers(len(names), size=n)]
    p = 1.0 / np.arange(1, len(names) + 1) ** zipf
    ranked = rng.permutation(len(names))
    return [names[ranked[i]] for i in rng.choice(len(names), size=n, p=p / p.sum())]


def measure(run_dirs: list[Path], resident: int, requests: int, zipf: float, seed: int) -> dict[str, Any]:
    registry = Registry(register_runs(run_dirs), max_resident=resident)
    names = sorted(registry.adapters)
    checks: list[float] = []
    registry.verify = timed(registry.verify, checks)  # type: ignore[method-assign]
    base = registry.resident(names[0])  # the base model loads once, outside the figures
    task = registry.get(names[0]).task
    prompt = base.tokenizer("Markets rally as rates fall")["input_ids"]
    engine = Engine(registry, max_batch=1, max_wait_ms=0)
    cold_load, cold_req, warm_req, most = [], [], [], 0
    try:
        for name in order(names, requests, zipf, np.random.default_rng(seed)):
            job = (Job(adapter=name, kind="generate", ids=prompt, max_tokens=4) if task == "causal_lm"
                   else Job(adapter=name, kind="classify", texts=["Markets rally as rates fall"]))  # fmt: skip
            cold = registry.slot(name) is None
            t0 = time.perf_counter()
            registry.resident(name)  # the load a request triggers (a warm adapter: a dict lookup)
            t1 = time.perf_counter()
            engine.submit(job).result()
            t2 = time.perf_counter()
            if cold:
                cold_load.append(t1 - t0)
            (cold_req if cold else warm_req).append(t2 - t0)
            most = max(most, len(registry.resident_names))
    finally:
        engine.close()
    q = statistics.quantiles(cold_load, n=100) if len(cold_load) > 1 else cold_load * 99
    return {
        "adapters": len(names), "resident": resident, "requests": requests, "zipf": zipf,
        "cold_loads": len(cold_load), "hit_rate": len(warm_req) / requests, "most_resident": most,
        "cold_load_p50_s": q[49], "cold_load_p95_s": q[94],
        "hash_check_p50_s": statistics.median(checks[1:]) if len(checks) > 1 else None,
        "cold_request_p50_s": statistics.median(cold_req) if cold_req else None,
        "warm_request_p50_s": statistics.median(warm_req) if warm_req else None,
        "cold_vs_warm_request": statistics.median(cold_req) / statistics.median(warm_req)
        if cold_req and warm_req else None,
    }  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", help="the template run directory (its first adapter is copied)")
    ap.add_argument("--adapters", type=int, default=1000)
    ap.add_argument("--per-run", type=int, default=10, help="member adapters per generated run")
    ap.add_argument("--resident", type=int, default=32, help="max_resident")
    ap.add_argument("--requests", type=int, default=3000)
    ap.add_argument("--zipf", type=float, default=0.0, help="popularity skew (0: uniform random order)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="a smoke run: 40 adapters, 8 resident, 120 requests")
    ap.add_argument(
        "--make-only", metavar="DIR", help="only write the runs, under DIR/runs, and keep them (for run.py)"
    )
    args = ap.parse_args()
    if args.make_only:
        made = make_runs(Path(args.run), Path(args.make_only), args.adapters, args.per_run, args.seed)
        print("\n".join(str(d) for d in made))
        return
    if args.quick:
        args.adapters, args.per_run, args.resident, args.requests = 40, 4, 8, 120

    work = Path(tempfile.mkdtemp(prefix="serve-coldload-"))
    try:
        t0 = time.perf_counter()
        run_dirs = make_runs(Path(args.run), work, args.adapters, args.per_run, args.seed)
        made = time.perf_counter() - t0
        out = {**measure(run_dirs, args.resident, args.requests, args.zipf, args.seed), "made_in_s": made,
               "load_average": os.getloadavg()}  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)
    path = Path(__file__).parent / "out" / "coldload.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(out, indent=2))
    print(f"{out['adapters']} adapters registered, {out['resident']} resident (at most {out['most_resident']} seen), "
          f"{out['requests']} requests ({'uniform' if args.zipf <= 0 else f'zipf {args.zipf}'}): hit rate "
          f"{out['hit_rate']:.3f}; cold load (hash check + load) p50 {out['cold_load_p50_s'] * 1e3:.1f} ms, p95 "
          f"{out['cold_load_p95_s'] * 1e3:.1f} ms (hash check p50 {out['hash_check_p50_s'] * 1e3:.1f} ms); cold "
          f"request {out['cold_request_p50_s'] * 1e3:.1f} ms vs warm {out['warm_request_p50_s'] * 1e3:.1f} ms = "
          f"{out['cold_vs_warm_request']:.2f}x; load average {out['load_average'][0]:.2f}")  # fmt: skip


if __name__ == "__main__":
    with exit_on_error():
        main()
