"""The LDS experiment (experiments/lds/run.py): configs validate, and --quick runs end to end and resumes."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from repo_paths import REPO, load_script, needs_agnews

from olab.config import load
from olab.errors import ConfigError
from olab.metrics import LDSResult, paired_difference

lds_run = load_script("lds_run", "experiments/lds/run.py")


@pytest.mark.parametrize("name", ["lds_agnews.yaml", "lds_agnews_1k.yaml", "lds_agnews_small.yaml"])
def test_configs_validate(name):
    cfg = load(lds_run.LDSExperiment, REPO / "configs" / "experiments" / name)
    assert cfg.subsets.m >= 50
    assert {m.name for m in cfg.methods} >= {"olab-1", "olab-5", "traker-1", "grad-dot-1"}


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"finetune": {"eval_fraction": 0.1}}, "eval_fraction must be 0"),
        ({"attribution": {"max_length": 32}}, "must equal finetune.max_length"),
        ({"methods": [{"name": "a"}, {"name": "a"}]}, "method names must be unique"),
        ({"subsets": {"m": 2}}, "subsets.m"),
        ({"compare_to": "olab-7"}, "compare_to='olab-7' must name one of the methods"),
        ({"methods": [{"name": "g", "preconditioner": "identity", "damping": 1.0}]}, "damping applies to"),
    ],
)
def test_bad_configs_are_refused_with_the_field_named(override, message):
    with pytest.raises(ConfigError, match=message):
        load(lds_run.LDSExperiment, REPO / "configs" / "experiments" / "lds_agnews.yaml", override)


def test_the_script_ends_on_a_bad_config_with_one_message_and_no_traceback():
    done = subprocess.run(
        [sys.executable, str(REPO / "experiments/lds/run.py"), "--quick", "--set", "subsets.m=2"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("error: ") and "subsets.m: Input should be greater than or equal to 3" in done.stderr


@pytest.mark.slow
@needs_agnews
def test_quick_run_end_to_end_then_resumes_from_cache(tmp_path, capsys):
    out = tmp_path / "lds"
    assert lds_run.main(["--quick", "--out", str(out), "--threads", "1"]) == 0
    first = json.loads((out / "results.json").read_text())
    printed = capsys.readouterr().out
    assert printed.count("retrained in") == lds_run.QUICK["subsets"]["m"]
    rows = {r["name"]: r for r in first["methods"]}
    assert set(rows) == {m["name"] for m in lds_run.QUICK["methods"]}
    for r in rows.values():
        assert -1.0 <= r["ci_low"] <= r["lds"] <= r["ci_high"] <= 1.0
        assert len(r["per_target"]) == first["n_targets"] == lds_run.QUICK["data"]["n_targets"]
        assert r["n_undefined"] == sum(v is None for v in r["per_target"])
    assert rows["olab-1"]["vs_olab-1"] == {"diff": 0.0, "ci_low": 0.0, "ci_high": 0.0}
    vs = rows["grad-dot-1"]["vs_olab-1"]
    assert vs["ci_low"] <= vs["diff"] <= vs["ci_high"]
    assert vs["diff"] == pytest.approx(rows["grad-dot-1"]["lds"] - rows["olab-1"]["lds"])  # no undefined targets here
    table = [line for line in (out / "results.md").read_text().splitlines() if line.startswith("|")]
    assert len(table) == 2 + len(rows) and len({line.count("|") for line in table}) == 1  # a well-formed table
    assert any(line.startswith("| olab-2 | olab | 2 | trak |") for line in table)

    # a second run finds every retrain and every score on disk: nothing is retrained, results are identical
    assert lds_run.main(["--quick", "--out", str(out), "--threads", "1"]) == 0
    assert "retrained in" not in capsys.readouterr().out
    second = json.loads((out / "results.json").read_text())
    assert [r["per_target"] for r in second["methods"]] == [r["per_target"] for r in first["methods"]]

    # the retrains as Ray tasks on two workers (a one-machine Ray): the same margins, hence the same LDS
    pytest.importorskip("ray")
    on_ray = tmp_path / "lds-ray"
    assert lds_run.main(["--quick", "--out", str(on_ray), "--threads", "1", "--executor", "ray", "--workers", "2"]) == 0
    assert "fine-tunes done in" in capsys.readouterr().out
    third = json.loads((on_ray / "results.json").read_text())
    assert [r["per_target"] for r in third["methods"]] == [r["per_target"] for r in first["methods"]]


lds_compare = load_script("lds_compare", "experiments/lds/compare.py")


def test_compare_prints_the_paired_difference_of_two_methods(tmp_path, capsys):
    rows = [{"name": n, "lds": float(np.nanmean(v)), "ci_low": 0.0, "ci_high": 0.0, "confidence": 0.95, "n_undefined": 0,
             "n_subsets": 50, "per_target": v} for n, v in (("a", [0.5, 0.4, 0.3, 0.6]), ("b", [0.4, 0.4, 0.1, 0.5]))]  # fmt: skip
    (tmp_path / "results.json").write_text(
        json.dumps({"confidence": 0.95, "config": {"bootstrap": 200}, "methods": rows})
    )
    assert lds_compare.main([str(tmp_path), "a:b"]) == 0
    diff, low, high = paired_difference(LDSResult.from_dict(rows[0]), LDSResult.from_dict(rows[1]), bootstrap=200)
    assert diff == pytest.approx(0.1)
    assert capsys.readouterr().out.startswith(f"a − b: {diff:+.4f} [{low:+.4f}, {high:+.4f}]")
    with pytest.raises(SystemExit):
        lds_compare.main([str(tmp_path), "a:c"])
    with pytest.raises(SystemExit):  # a folder without results.json: one usage line, not a FileNotFoundError
        lds_compare.main([str(tmp_path / "elsewhere"), "a:b"])
    assert "elsewhere/results.json does not exist" in capsys.readouterr().err
