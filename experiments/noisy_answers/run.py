"""Generative noisy-answer detection: do self-influence and training loss flag the wrong answers?

Runs the language-model quickstart (`olab.run` on configs/quickstart_llm.yaml; every stage is cached in
runs/.cache, so after `olab run configs/quickstart_llm.yaml` in the same folder nothing is recomputed),
then scores each training record by every method of `olab.detection` (the code the AG News experiment,
experiments/reward_stability, measures with) and reports the ROC AUC of each as a detector of the records whose
answers the wrong-answer contributor replaced (the Datanet's ground truth, `injected == label_flip`), with a 95%
bootstrap interval, side by side. The methods combine two signals:

- self-influence: TRAK's effect of the record on its own output (attribution's self_influence.npy);
- training loss: the adapter's mean per-token loss on the record's response given its prompt.

It also prints the contributors' reward shares and net payouts (the wrong-answer contributor should be last).

    .venv/bin/python experiments/noisy_answers/run.py                                  # the quickstart's setup
    .venv/bin/python experiments/noisy_answers/run.py --set datanet.source.n=40 --set targets.source.n=4
    .venv/bin/python experiments/noisy_answers/run.py --run runs/<run id>     # a finished run, as it is
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

import olab
from olab.adapters.chat import instruction_view
from olab.config import parse_overrides
from olab.detection import METHODS, harm_scores, record_losses
from olab.errors import exit_on_error
from olab.io import atomic_write_json, atomic_write_text
from olab.metrics import roc_auc_interval

REPO = Path(__file__).resolve().parents[2]
WRONG = "label_flip"  # the Datanet's ground-truth tag of a label_noise (wrong-answer) record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=REPO / "configs" / "quickstart_llm.yaml")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="Config override.")
    parser.add_argument("--run", type=Path, help="Analyse this finished run directory instead of running the config.")
    parser.add_argument("--datanet", type=Path, help="(--run) Its Datanet's directory, if not where the run says.")
    parser.add_argument("--bootstrap", type=int, default=1000, help="Bootstrap resamples of records.")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "out")
    args = parser.parse_args()

    if args.run:
        result = olab.Run.open(args.run, datanet_path=args.datanet)
    else:
        result = olab.run(args.config, overrides=parse_overrides(args.set), progress=True)
    dn = result.datanet
    wrong = np.array([x == WRONG for x in dn.table.column("injected").to_pylist()])
    if not wrong.any():
        sys.exit("the Datanet has no wrong-answer records: give a contributor kind label_noise with rate > 0")
    attribution = result.attribution
    loss = record_losses(result.adapters, instruction_view(dn.to_hf()), result.config.finetune.max_length)
    found = {
        method: roc_auc_interval(harm_scores(attribution.self_influence, loss, None, method), wrong, args.bootstrap)
        for method in METHODS
    }

    results = {
        "run_dir": str(result.dir),
        "records": len(wrong),
        "wrong_answers": int(wrong.sum()),
        "auc": found,
        "shares_ppm": {s.contributor: s.share_ppm for s in result.rewards.shares},
        "net_ppm": result.rewards.net_ppm(),  # share minus the harm its deposits owe (policy per_record)
        "behaviours": {c["address"]: c["behaviour"] for c in dn.contributors},
        "timings_s": result.timings,
    }
    table = "\n".join([
        f"# Wrong-answer detection ({results['wrong_answers']} wrong of {results['records']} records)",
        "",
        "| method | ROC AUC | 95% bootstrap interval |",
        "| --- | --- | --- |",
        *(f"| {m} | {a['auc']:.4f} | [{a['ci_low']:.4f}, {a['ci_high']:.4f}] |" for m, a in found.items()),
        "",
        "| contributor | behaviour | share (ppm) | net payout (ppm) |",
        "| --- | --- | --- | --- |",
        *(
            f"| {a} | {results['behaviours'].get(a, 'rounding (stays in the pool)')} | {v} | {results['net_ppm'][a]} |"
            for a, v in results["shares_ppm"].items()
        ),
    ])  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(args.out / "results.json", results)
    atomic_write_text(args.out / "results.md", table + "\n")
    print(table)
    print(json.dumps({method: a["auc"] for method, a in found.items()}))


if __name__ == "__main__":
    with exit_on_error():
        main()
