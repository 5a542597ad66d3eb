"""The reward-stability experiment (experiments/reward_stability/run.py): its measures, its setups, a quick run."""

from __future__ import annotations

import json

import numpy as np
import pytest
from repo_paths import load_script, needs_agnews

import olab
from olab.detection import METHODS

stability_run = load_script("reward_stability", "experiments/reward_stability/run.py")
sweep = load_script("reward_stability_sweep", "experiments/reward_stability/sweep.py")

A, B, C = ("0x" + c * 40 for c in "abc")


def fake_run(shares: dict[str, int], intervals: dict[str, list[int]]) -> dict:
    return {"behaviour": {A: "clean", B: "clean", C: "label_noise"}, "shares": shares, "intervals": intervals}


def test_stability_measures_cv_ranks_and_coverage():
    runs = [
        fake_run({A: 600, B: 400, C: 0}, {A: [450, 650], B: [380, 520], C: [0, 10]}),
        fake_run({A: 450, B: 550, C: 0}, {A: [300, 480], B: [510, 600], C: [0, 350]}),
    ]
    s = stability_run.stability(runs)
    assert s["noisy"] == C and s["clean_owed_ppm"] == 500
    assert s["clean_cv_per_seed"] == pytest.approx([0.2, 0.1])
    assert s["clean_cv_of_seed_means"] == pytest.approx(np.std([525, 475]) / 500)
    assert s["coverage_of_owed_share"] == 0.5  # A's and B's first intervals hold 500, neither second one does
    assert s["noisy_interval_below_every_clean"] == [True, False]
    assert s["ranks"] == {A: [1, 2], B: [2, 1], C: [3, 3]}
    assert s["rank_spearman_between_seeds"] == [pytest.approx(0.5)]


@needs_agnews
def test_setups_vary_the_seeds_and_the_flip_rate_only(tmp_path):
    base = stability_run.DEFAULT_CONFIG
    one = stability_run.setup({}, base, 0, 0.3, tmp_path)
    two = stability_run.setup({}, base, 2, 0.1, tmp_path)
    assert (one.finetune.seed, one.attribution.proj_seed, two.finetune.seed, two.attribution.proj_seed) == (0, 0, 2, 2)
    assert [b.rate for b in one.datanet.contributors.behaviours] == [0.3]
    assert [b.rate for b in two.datanet.contributors.behaviours] == [0.1] and one.datanet.name != two.datanet.name
    assert one.datanet.source.max_records == 2250 and one.datanet.contributors.n == 9
    assert one.targets.source.max_records == 200 and one.rewards.interval_resamples == 1000
    three = stability_run.setup({}, base, 0, 0.3, tmp_path, contributors=3)  # as many records each, the last noisy
    assert three.datanet.source.max_records == 750 and three.datanet.contributors.n == 3
    assert [(b.contributor, b.rate) for b in three.datanet.contributors.behaviours] == [(2, 0.3)]
    assert three.datanet.name not in (one.datanet.name, two.datanet.name)


@pytest.mark.slow
@needs_agnews
def test_quick_run_end_to_end(tmp_path):
    out = tmp_path / "stability"
    args = ["--quick", "--out", str(out), "--seeds", "0", "1", "--detect-rates", "0.5"]
    assert stability_run.main(args) == 0
    res = json.loads((out / "results.json").read_text())
    s = res["stability"]
    assert len(s["clean_cv_per_seed"]) == 2 and all(v >= 0 for v in s["clean_cv_per_seed"])
    assert 0 <= s["coverage_of_owed_share"] <= 1 and len(s["ranks"]) == 9
    assert set(res["detection_auc"]) == {"0.30", "0.50"}
    for aucs in res["detection_auc"].values():
        assert list(aucs) == list(METHODS)
        assert all(0 <= v <= 1 for v in aucs.values())
    assert all(r["flipped"] > 0 for r in res["runs"])
    # the sweep recomputes the seeds' shares from their stored scores: with every target and no normalisation it
    # gives the runs' own clean CVs; per-record normalisation and fewer targets give other shares
    seeds = [olab.Run.open(out / "runs" / r["run_id"][2:18]) for r in res["runs"][:2]]
    rows = sweep.measure(seeds)
    assert [(r["normalisation"], r["targets"]) for r in rows][-1] == ("per record", 8) and len(rows) == 8
    as_run = next(r for r in rows if r["normalisation"] == "none" and r["targets"] == 8)
    assert as_run["clean_cv"] == pytest.approx(s["clean_cv_per_seed"])
    assert as_run["noisy_ppm"] == s["noisy_share_ppm"]
    normalised = next(r for r in rows if r["normalisation"] == "per record" and r["targets"] == 8)
    assert normalised["clean_cv"] != as_run["clean_cv"]
