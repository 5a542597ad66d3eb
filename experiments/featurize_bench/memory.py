"""Peak memory of `olab.attribute` as the training set grows: features stream to disk, scoring runs in
blocks, so the process's peak resident memory should not grow with the number of training examples.

    .venv/bin/python experiments/featurize_bench/memory.py                      # 1k, 4k, 16k examples
    .venv/bin/python experiments/featurize_bench/memory.py --sizes 100000       # the 100k figure

Each size runs `attribute` (MiniLM + LoRA r=8 fine-tuned briefly by olab.finetune, k=2048, short
sequences so that large sizes finish) in a fresh process and reports its peak RSS (ru_maxrss, which
includes the model, the 75k x 2048 projection matrix and torch's own allocations) next to the size
of the features it streamed. Results go to out/memory.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from olab.errors import exit_on_error

OUT = Path(__file__).parent / "out"
AGNEWS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "agnews"
LABELS = ["World", "Sports", "Business", "Sci/Tech"]


def rows(n: int) -> tuple[list[str], list[str]]:
    """n AG News records, cycling through dev and test with a numbered suffix so every text differs."""
    base = [
        line.split("\t") for split in ("dev", "test") for line in (AGNEWS / f"{split}.tsv").read_text().splitlines()
    ]
    texts = [f"{base[i % len(base)][0]} #{i}" for i in range(n)]
    return texts, [base[i % len(base)][1].strip() for i in range(n)]


def adapter_dir(work: Path) -> Path:
    from datasets import Dataset

    from olab.adapters import finetune

    texts, labels = rows(32)
    cfg = {"epochs": 1, "max_length": 16, "checkpoints": 1, "eval_fraction": 0.0, "device": "cpu"}
    finetune(Dataset.from_dict({"text": texts, "label": labels}), LABELS, cfg, work / "adapter", progress=False)
    return work / "adapter"


def one_size(n: int, adapter: Path, seq: int, k: int, out: Path) -> dict:
    import torch
    from datasets import Dataset

    from olab.adapters import Adapter
    from olab.attribution import attribute

    torch.set_num_threads(1)
    texts, labels = rows(n)
    t_texts, t_labels = rows(n + 8)
    train = Dataset.from_dict({"text": texts, "label": labels})
    targets = Dataset.from_dict({"text": t_texts[n:], "label": t_labels[n:]})
    start = time.perf_counter()
    result = attribute(
        Adapter.open(adapter), train, targets, {"max_length": seq, "proj_dim": k, "batch_size": 64}, out, progress=False
    )
    wall = time.perf_counter() - start
    p = result.params
    return {
        "n_train": n,
        "peak_rss_mb": p["peak_rss_mb"],
        "features_mb": n * k * 4 / 2**20,
        "featurize_examples_per_s": (n + 8) / p["timings"]["featurize_s"],
        "score_s": p["timings"]["score_s"],
        "wall_s": wall,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 4000, 16000])
    parser.add_argument("--seq", type=int, default=16, help="Tokens per example.")
    parser.add_argument("--k", type=int, default=2048)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # internal: run one size in this process
    parser.add_argument("--adapter", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        with tempfile.TemporaryDirectory() as tmp:
            print(json.dumps(one_size(args.one, args.adapter, args.seq, args.k, Path(tmp) / "attribution")))
        return
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        adapter = adapter_dir(Path(tmp))
        for n in args.sizes:
            cmd = [sys.executable, __file__, "--one", str(n), "--adapter", str(adapter), "--seq", str(args.seq),
                   "--k", str(args.k)]  # fmt: skip
            line = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
            results.append(json.loads(line))
            r = results[-1]
            print(
                f"n_train={n:>7,}: peak RSS {r['peak_rss_mb']:7.0f} MB, features on disk {r['features_mb']:7.0f} MB, "
                f"{r['featurize_examples_per_s']:.0f} examples/s, scoring {r['score_s']:.1f}s",
                flush=True,
            )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "memory.json").write_text(json.dumps(results, indent=2) + "\n")
    worst = max(results, key=lambda r: r["peak_rss_mb"])
    print(f"largest peak RSS {worst['peak_rss_mb']:.0f} MB at n_train={worst['n_train']:,} (limit 4096 MB)")


if __name__ == "__main__":
    with exit_on_error():
        main()
