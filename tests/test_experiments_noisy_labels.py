"""The noisy-label experiment (experiments/noisy_labels/run.py): the noise it injects, its config, a quick run."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest
from repo_paths import REPO, load_script, needs_agnews

from olab.config import load
from olab.errors import ConfigError

CONFIG = REPO / "configs" / "experiments" / "noisy_labels_agnews.yaml"
noisy_run = load_script("noisy_run", "experiments/noisy_labels/run.py")


@needs_agnews
def test_noise_flips_exactly_the_configured_share_of_one_contributor():
    cfg = load(noisy_run.NoisyLabelsExperiment, CONFIG, {"data": {"n_train": 200, "n_targets": 4}})
    train, targets, labels, contributors, flipped = noisy_run.noisy_data(cfg)
    assert len(train) == 200 and len(targets) == 4 and set(labels) == {"World", "Sports", "Business", "Sci/Tech"}
    assert Counter(contributors) == {f"contributor-{c}": 40 for c in range(5)}
    noisy = np.array(contributors) == "contributor-0"
    assert flipped.sum() == 8 and flipped[noisy].sum() == 8  # 20% of contributor 0's 40 records, nobody else's
    given, clean = np.array(train["label"]), np.array(train["clean_label"])
    assert (given[flipped] != clean[flipped]).all() and (given[~flipped] == clean[~flipped]).all()
    # deterministic for a seed, different for another
    again = noisy_run.noisy_data(cfg)[4]
    other = noisy_run.noisy_data(cfg.model_copy(update={"noise": cfg.noise.model_copy(update={"seed": 1})}))[4]
    assert np.array_equal(again, flipped) and not np.array_equal(other, flipped)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"noise": {"noisy_contributor": 5}}, "must be below noise.contributors=5"),
        ({"finetune": {"eval_fraction": 0.1}}, "eval_fraction must be 0"),
        ({"attribution": {"max_length": 32}}, "must equal finetune.max_length"),
        ({"noise": {"flip_fraction": 0}}, "noise.flip_fraction"),
    ],
)
def test_bad_configs_are_refused(override, message):
    with pytest.raises(ConfigError, match=message):
        load(noisy_run.NoisyLabelsExperiment, CONFIG, override)


@pytest.mark.slow
@needs_agnews
def test_quick_run_end_to_end(tmp_path):
    out = tmp_path / "noisy"
    assert noisy_run.main(["--quick", "--out", str(out), "--threads", "1"]) == 0
    res = json.loads((out / "results.json").read_text())
    assert res["n_train"] == 40 and res["n_flipped"] == 5
    for key in ("self_influence", "loss_baseline"):
        assert 0.0 <= res[key]["ci_low"] <= res[key]["auc"] <= res[key]["ci_high"] <= 1.0
    assert {row["contributor"] for row in res["contributor_table"]} == {f"contributor-{c}" for c in range(4)}
    assert 1 <= res["noisy_contributor_rank_by_total_influence"] <= 4
    assert "| self-influence |" in (out / "results.md").read_text()
