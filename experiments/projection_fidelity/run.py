"""Projection fidelity: do TRAK scores from k-dimensional projected gradients rank like exact TRAK?

A MiniLM + LoRA adapter is fine-tuned on AG News (the LDS recipe). Exact TRAK uses every example's full
adapter gradient (75,268 numbers), solved in its n × n kernel form (`olab.attribution.trak.kernel_scores`);
projected TRAK is olab's (`olab.attribution.trak.score`) on the dense and Kronecker projections at each k.
For every damping the table gives the mean over targets of the Spearman correlation between the two
score columns (how faithfully the projection ranks the training examples); out/results.{md,json} keep it.

    .venv/bin/python experiments/projection_fidelity/run.py                      # 300 examples, 40 targets
    .venv/bin/python experiments/projection_fidelity/run.py --n-train 32 --n-targets 4 --ks 256 --epochs 1
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr

from olab.adapters import Adapter, finetune
from olab.adapters.data import iter_batches
from olab.attribution.featurize import Featurizer
from olab.attribution.projection import make_projector
from olab.attribution.trak import Member, kernel_scores, score, write_features
from olab.datanet.config import SourceConfig
from olab.datanet.sources import load_source
from olab.errors import exit_on_error
from olab.hashing import hash_json
from olab.io import atomic_write_json, atomic_write_text

REPO = Path(__file__).resolve().parents[2]
AGNEWS = REPO.parent / "shared" / "data" / "agnews"
MAX_LENGTH, BATCH = 64, 25


def agnews(split: str, n: int, seed: int):
    """n seeded random rows of ../shared/data/agnews/<split>.tsv, loaded as a Datanet source would be."""
    source = SourceConfig(kind="files", data_files=str(AGNEWS / f"{split}.tsv"), format="tsv",
                          column_names=["text", "label"], shuffle_seed=seed, max_records=n)  # fmt: skip
    return load_source(source)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-train", type=int, default=300, help="Training examples (dev.tsv).")
    parser.add_argument("--n-targets", type=int, default=40, help="Targets (test.tsv).")
    parser.add_argument("--ks", type=int, nargs="+", default=[2048, 4096], help="Projection dimensions.")
    parser.add_argument("--dampings", type=float, nargs="+", default=[0.01, 1.0, 100.0], help="attribution.damping.")
    parser.add_argument("--epochs", type=int, default=3, help="Fine-tuning epochs (lr 1e-3, batch 16).")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "out", help="Output and adapter cache.")
    args = parser.parse_args(argv)

    train, targets = agnews("dev", args.n_train, seed=0), agnews("test", args.n_targets, seed=1)
    labels = sorted(set(train["label"]) | set(targets["label"]))
    recipe = {"epochs": args.epochs, "learning_rate": 1e-3, "batch_size": 16, "max_length": MAX_LENGTH,
              "checkpoints": 1, "eval_fraction": 0.0, "device": "cpu"}  # fmt: skip
    adapter_dir = args.out / f"adapter-{hash_json({'recipe': recipe, 'n': args.n_train})[7:19]}"
    if not (adapter_dir / "provenance.json").is_file():
        finetune(train, labels, recipe, adapter_dir, progress=False, overwrite=True)
    model, tokenizer = Adapter.open(adapter_dir).load()
    ids = {label: i for i, label in enumerate(labels)}

    def batches(ds) -> list[dict[str, torch.Tensor]]:
        rows = iter_batches(tokenizer, list(ds["text"]), [ids[x] for x in ds["label"]], "classification",
                            MAX_LENGTH, BATCH)  # fmt: skip
        return [b for _, b in rows]

    train_batches, target_batches = batches(train), batches(targets)
    exact = Featurizer(model, "classification")
    g, q = (torch.cat(p).numpy() for p in zip(*(exact.per_example_grads(b) for b in train_batches), strict=True))
    gt = torch.cat([exact.per_example_grads(b)[0] for b in target_batches]).numpy()
    references = {d: kernel_scores(g, q, gt, d) for d in args.dampings}

    rows = []
    for kind in ("dense", "kronecker"):
        for k in args.ks:
            fz = Featurizer(model, "classification", make_projector(kind, exact.blocks, k, seed=0, device="cpu"))
            with tempfile.TemporaryDirectory() as tmp:
                member = Member(write_features(fz.featurize, train_batches, len(train), k, Path(tmp) / "train.npy"),
                                write_features(fz.featurize, target_batches, len(targets), k, Path(tmp) / "t.npy"))  # fmt: skip
                row = {"projection": kind, "k": k}
                for d, ref in references.items():
                    out = np.zeros(ref.shape, np.float32)
                    score([member], d, out, block_size=4096)
                    row[str(d)] = float(np.mean([spearmanr(out[:, j], ref[:, j])[0] for j in range(ref.shape[1])]))
            rows.append(row)
            print(f"{kind:9} k={k:>5}: " + "  ".join(f"damping {d:g}: {row[str(d)]:.4f}" for d in args.dampings))

    header = [f"damping {d:g}" for d in args.dampings]
    table = "\n".join([
        f"# Projected vs exact TRAK: mean per-target Spearman ({len(train)} training examples, {len(targets)} "
        f"targets, gradient of {exact.grad_dim:,} parameters)",
        "",
        f"| projection | k | {' | '.join(header)} |",
        f"|{' --- |' * (2 + len(header))}",
        *(f"| {r['projection']} | {r['k']} | " + " | ".join(f"{r[str(d)]:.4f}" for d in args.dampings) + " |"
          for r in rows),
        "",
    ])  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(args.out / "results.json", {"args": {**vars(args), "out": str(args.out)},
                                                  "grad_dim": exact.grad_dim, "rows": rows})  # fmt: skip
    atomic_write_text(args.out / "results.md", table)
    print(table)
    return 0


if __name__ == "__main__":
    with exit_on_error():
        sys.exit(main())
