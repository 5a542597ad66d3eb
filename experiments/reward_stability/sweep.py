"""What drives the clean shares' spread, measured on finished runs without training again: fewer targets, and
per-record normalisation of the scores.

For each run directory given (the stability experiment's runs, one per seed), the shares are recomputed under
the run's own rewards policy (`olab.rewards.compute` on `Attribution.by_record`) from
- the first T targets' columns of scores.npy (the targets are a shuffled sample, so the first T are a random
  subset), T = 25, 50, 100 and all;
- the same with each record's scores divided by the square root of its self-influence (per-record
  normalisation, as RelatIF does: a record that moves its own output a lot, such as a mislabelled one, does not
  dominate the sums by its gradient's size alone).
It prints, per setting, the clean shares' coefficient of variation in every run and the label-noise
contributor's share and net payout (share minus what its harmful records owe, under `per_record`). Ensemble members, projection dimension and damping change the scores themselves, so
measuring them needs new `olab run`s (run.py --set ...), not this script.

    .venv/bin/python experiments/reward_stability/sweep.py RUN_DIR [RUN_DIR ...] [--datanets DIR]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

import olab
from olab.attribution.result import payee_rows, to_payees
from olab.errors import exit_on_error
from olab.rewards import Rewards, compute

TARGETS = (25, 50, 100, None)  # None: every target
NORMALISATIONS = ("none", "per record")


def shares(run: olab.Run, targets: int | None, normalisation: str) -> Rewards:
    """The rewards of `run` recomputed from its first `targets` targets' scores, normalised or not."""
    attribution, datanet = run.attribution, run.datanet
    scores = np.asarray(attribution.scores[:, :targets], dtype=np.float64)
    if normalisation == "per record":
        scores = scores / np.sqrt(np.maximum(np.asarray(attribution.self_influence, dtype=np.float64), 1e-30))[:, None]
    records = attribution.by_record(datanet)
    records["influence"] = to_payees(scores.sum(axis=1), payee_rows(datanet.table))
    return compute(records, run.config.rewards)


def measure(runs: list[olab.Run]) -> list[dict]:
    rows = []
    for normalisation in NORMALISATIONS:
        for targets in TARGETS:
            cvs, noisy, net = [], [], []
            for run in runs:
                behaviour = run.behaviours()
                paid = shares(run, targets, normalisation)
                got, nets = paid.as_dict(), paid.net_ppm()
                clean = np.array([got.get(a, 0) for a, b in behaviour.items() if b == "clean"], dtype=np.float64)
                cvs.append(float(clean.std() / clean.mean()))
                noisy.append(sum(got.get(a, 0) for a, b in behaviour.items() if b == "label_noise"))
                net.append(sum(nets.get(a, 0) for a, b in behaviour.items() if b == "label_noise"))
            n_targets = runs[0].attribution.n_targets if targets is None else targets
            rows.append(
                {
                    "normalisation": normalisation,
                    "targets": n_targets,
                    "clean_cv": cvs,
                    "noisy_ppm": noisy,
                    "noisy_net_ppm": net,
                }
            )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", type=Path, nargs="+", help="Run directories (one per seed) of the same setup.")
    parser.add_argument("--datanets", type=Path, help="The folder holding their Datanets, if not where the runs say.")
    args = parser.parse_args(argv)
    runs = []
    for path in args.runs:
        run = olab.Run.open(path)
        if args.datanets is not None:
            run = olab.Run.open(path, datanet_path=args.datanets / run.manifest.datanet.name)
        runs.append(run)
    rows = measure(runs)
    print("| per-record normalisation | targets | clean CV per run | mean | label-noise share (ppm) | its net payout |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(
            f"| {r['normalisation']} | {r['targets']} | {', '.join(f'{v:.3f}' for v in r['clean_cv'])} | "
            f"{np.mean(r['clean_cv']):.3f} | {', '.join(f'{v:,}' for v in r['noisy_ppm'])} | "
            f"{', '.join(f'{v:,}' for v in r['noisy_net_ppm'])} |"
        )
    return 0


if __name__ == "__main__":
    with exit_on_error():
        sys.exit(main())
