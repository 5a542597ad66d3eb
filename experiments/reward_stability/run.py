"""Reward stability on AG News: are exchangeable clean contributors paid alike, and how sure are the shares?

8 clean contributors and one label-noise contributor (records dealt round-robin, 200 targets;
configs/experiments/reward_stability_agnews.yaml) go through `olab.run` once per seed (the fine-tune seed and
the projection seed; the records stay the same), and once per extra flip rate. It prints:
- the clean shares' coefficient of variation (std / mean over the 8 clean contributors) per seed;
- the rank stability of every contributor across seeds (Spearman between seeds' shares; each one's ranks);
- interval coverage: how often a clean contributor's 95% interval (bootstrap over the targets, and over the
  ensemble members when attribution kept each one's scores) holds the clean contributors' mean share over all
  seeds, which is what each of them is owed since they are exchangeable; and whether the noisy contributor's
  interval lies below every clean one's;
- detection ROC AUC of the flipped records per method of `olab.detection` and flip rate.

    .venv/bin/python experiments/reward_stability/run.py                 # 3 seeds at 30%, then 10/20/40%
    .venv/bin/python experiments/reward_stability/run.py --quick --out /tmp/stability   # smoke run
    .venv/bin/python experiments/reward_stability/run.py --set attribution.checkpoints=last   # another setting
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

import olab
from olab.config import deep_merge, parse_overrides
from olab.detection import aucs, record_losses
from olab.errors import exit_on_error
from olab.io import atomic_write_json
from olab.metrics import spearman
from olab.pipeline.config import load_config

REPO = Path(__file__).resolve().parents[2]
DEFAULT_CONFIG = REPO / "configs" / "experiments" / "reward_stability_agnews.yaml"
# --quick: tiny sizes, an end-to-end smoke run; its figures mean little.
QUICK = {
    "datanet": {"source": {"max_records": 54}},
    "targets": {"source": {"max_records": 8}},
    "finetune": {"epochs": 1, "max_length": 32, "checkpoints": 1},
    "attribution": {"proj_dim": 128, "max_length": 32, "checkpoints": "last"},
    "rewards": {"interval_resamples": 200},
}


def setup(base: dict[str, Any], config: Path, seed: int, rate: float, out: Path, contributors: int | None = None):
    """The run config of one setup: `seed` for fine-tuning and projection, `rate` of the noisy one's labels flipped;
    `contributors`: how many (the last one noisy), each with as many records as in the config (default: its own)."""
    cfg = load_config(config, base)
    count = contributors or cfg.datanet.contributors.n
    behaviours = [
        b.model_dump() | ({"rate": rate, "contributor": count - 1} if b.kind == "label_noise" else {})
        for b in cfg.datanet.contributors.behaviours
    ]
    per_contributor = cfg.datanet.source.max_records // cfg.datanet.contributors.n
    suffix = "" if count == cfg.datanet.contributors.n else f"-{count}"
    return load_config(
        config,
        deep_merge(
            base,
            {
                "run": {"runs_dir": str(out / "runs")},
                "datanet": {
                    "name": f"{cfg.datanet.name}-flip{round(rate * 100)}{suffix}",
                    "root_dir": str(out / "datanets"),
                    "source": {"max_records": per_contributor * count},
                    "contributors": {"n": count, "behaviours": behaviours},
                },
                "finetune": {"seed": seed},
                "attribution": {"proj_seed": seed},
            },
        ),
    )


def measure(cfg) -> dict[str, Any]:
    """One `olab.run`: shares, intervals and behaviours by address, and each detector's ROC AUC."""
    started = time.perf_counter()
    run = olab.run(cfg, progress=False)
    records = run.records()
    flipped = (records["injected"] == "label_flip").to_numpy()
    loss = record_losses(run.adapters, run.datanet.to_hf(), cfg.finetune.max_length)
    rewards = run.rewards
    return {
        "run_id": run.run_id,
        "seconds": round(time.perf_counter() - started, 1),
        "behaviour": run.behaviours(),
        "shares": rewards.as_dict(),
        "intervals": {a: list(b) for a, b in rewards.intervals.ppm.items()},
        "resampled": rewards.intervals.resampled,
        "auc": aucs(flipped, records["self_influence"], loss, list(records["label"])),
        "flipped": int(flipped.sum()),
    }


def stability(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """CV, rank stability and interval coverage over the seeds' runs of one flip rate."""
    noisy = next(a for a, b in runs[0]["behaviour"].items() if b == "label_noise")
    people = sorted(a for a in runs[0]["intervals"])
    clean = [a for a in people if a != noisy]
    shares = np.array([[r["shares"].get(a, 0) for a in people] for r in runs], dtype=np.float64)  # seeds x people
    clean_cols = [people.index(a) for a in clean]
    per_seed_cv = [float(row[clean_cols].std() / row[clean_cols].mean()) for row in shares]
    owed = float(shares[:, clean_cols].mean())  # exchangeable: each clean contributor is owed the same
    held = [r["intervals"][a][0] <= owed <= r["intervals"][a][1] for r in runs for a in clean]
    below = [max(r["intervals"][noisy]) < min(r["intervals"][a][0] for a in clean) for r in runs]
    ranks = np.argsort(np.argsort(-shares, axis=1, kind="stable"), axis=1, kind="stable") + 1
    pairs = list(itertools.combinations(range(len(runs)), 2))
    return {
        "clean_cv_per_seed": per_seed_cv,
        "clean_cv_of_seed_means": float(shares[:, clean_cols].mean(0).std() / owed),
        "clean_owed_ppm": owed,
        "noisy_share_ppm": shares[:, people.index(noisy)].tolist(),
        "coverage_of_owed_share": float(np.mean(held)),
        "mean_interval_width_ppm": float(
            np.mean([r["intervals"][a][1] - r["intervals"][a][0] for r in runs for a in clean])
        ),
        "noisy_interval_below_every_clean": below,
        "rank_spearman_between_seeds": [spearman(shares[i], shares[j]) for i, j in pairs],
        "ranks": {a: ranks[:, k].tolist() for k, a in enumerate(people)},
        "noisy": noisy,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="The olab run config of one setup.")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "out", help="Output and cache folder.")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="Fine-tune and projection seeds.")
    parser.add_argument("--rate", type=float, default=0.3, help="Flip rate of the stability runs.")
    parser.add_argument(
        "--detect-rates", type=float, nargs="*", default=[0.1, 0.2, 0.4], help="More flip rates (seed: the first)."
    )
    parser.add_argument(
        "--contributors", type=int, help="How many contributors, the last one noisy (default: the config's 9)."
    )
    parser.add_argument("--quick", action="store_true", help="Tiny sizes: an end-to-end smoke run.")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="Override a key: a.b=value.")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (1 suits a shared machine).")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    base = deep_merge(QUICK if args.quick else {}, parse_overrides(args.overrides))
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    runs = []
    for seed in args.seeds:
        runs.append(measure(setup(base, args.config, seed, args.rate, args.out, args.contributors)))
        _progress(args.out, f"seed {seed}, flip {args.rate:.0%}", runs[-1])
    detection = {args.rate: runs[0]["auc"]}
    for rate in args.detect_rates:
        done = measure(setup(base, args.config, args.seeds[0], rate, args.out, args.contributors))
        detection[rate] = done["auc"]
        _progress(args.out, f"seed {args.seeds[0]}, flip {rate:.0%}", done)
    result = {
        "config": str(args.config),
        "overrides": base,
        "seeds": args.seeds,
        "rate": args.rate,
        "stability": stability(runs),
        "runs": runs,
        "detection_auc": {f"{r:.2f}": v for r, v in sorted(detection.items())},
        "seconds": round(time.perf_counter() - started, 1),
    }
    atomic_write_json(args.out / "results.json", result)
    print(summary(result), flush=True)
    return 0


def _progress(out: Path, what: str, done: dict[str, Any]) -> None:
    """Say that a setup is done, with its figures (also appended to out/runs.jsonl, in case the rest fails)."""
    print(f"[stability] {what}: {done['seconds']} s, AUC {done['auc']}", flush=True)
    with (out / "runs.jsonl").open("a") as f:
        f.write(json.dumps({"setup": what, **done}) + "\n")


def summary(result: dict[str, Any]) -> str:
    s = result["stability"]
    clean = [a for a in sorted(s["ranks"]) if a != s["noisy"]]  # numbered by address: the config's order is not kept
    names = {s["noisy"]: "label noise", **{a: f"clean {a[:6]}" for a in clean}}
    lines = [
        f"# Reward stability: seeds {result['seeds']}, flip rate {result['rate']:.0%}, overrides {result['overrides']}",
        "",
        f"clean shares' coefficient of variation per seed: {', '.join(f'{v:.3f}' for v in s['clean_cv_per_seed'])}"
        f" (mean {np.mean(s['clean_cv_per_seed']):.3f}); of the seeds' mean shares: {s['clean_cv_of_seed_means']:.3f}",
        f"clean contributor owed (mean over seeds): {s['clean_owed_ppm']:,.0f} ppm; label-noise contributor: "
        f"{', '.join(f'{v:,.0f}' for v in s['noisy_share_ppm'])} ppm",
        f"95% intervals (bootstrap over the {result['runs'][0].get('resampled', 'targets')}): mean width {s['mean_interval_width_ppm']:,.0f} ppm; they hold the "
        f"owed share {s['coverage_of_owed_share']:.0%} of the time; the noisy interval lies below every clean one "
        f"in {sum(s['noisy_interval_below_every_clean'])} of {len(result['seeds'])} seeds",
        f"Spearman of shares between seeds: {', '.join(f'{v:.2f}' for v in s['rank_spearman_between_seeds'])}",
        "ranks per seed: " + "; ".join(f"{names[a]} {r}" for a, r in s["ranks"].items()),
        "",
        "| flip rate | " + " | ".join(next(iter(result["detection_auc"].values()))) + " |",
        "| --- |" + " --- |" * len(next(iter(result["detection_auc"].values()))),
        *(
            f"| {float(rate):.0%} | " + " | ".join(f"{v:.3f}" for v in aucs.values()) + " |"
            for rate, aucs in result["detection_auc"].items()
        ),
        "",
        f"total {result['seconds']:.0f} s",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    with exit_on_error():
        sys.exit(main())
