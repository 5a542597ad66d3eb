"""experiments/serve_bench runs on real runs and prints its figures (the figures themselves are in its README)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from repo_paths import REPO


def bench(script: str, runs: dict[str, Path], *args: str, fails: bool = False) -> str:
    """Run experiments/serve_bench/`script` on the two causal-LM runs (8 adapters) from their project; its stdout
    (its stderr when it is expected to fail)."""
    proc = subprocess.run(
        [sys.executable, str(REPO / "experiments/serve_bench" / script), str(runs["lm_r4"]), str(runs["lm_r8"]), *args],
        cwd=runs["lm_r4"].parent.parent, capture_output=True, text=True, timeout=1200,
    )  # fmt: skip
    assert (proc.returncode != 0) == fails, proc.stderr[-3000:]
    return proc.stderr if fails else proc.stdout


def test_serve_bench_prints_the_mixed_batch_and_receipt_ratios(runs: dict[str, Path]) -> None:
    out = bench("run.py", runs, "--batch", "8", "--spreads", "2", "8", "--max-tokens", "2", "--rounds", "1")
    assert "mixed batch over 2 adapters vs one adapter:" in out and "mixed batch over 8 adapters vs one adapter:" in out
    assert "answer + receipt vs answer alone:" in out and "tokens/s" in out
    results = json.loads((REPO / "experiments/serve_bench/out/results.json").read_text())
    assert results["adapters_served"] == 8 and set(results["mixed_vs_one_adapter_throughput"]) == {"2", "8"}
    assert all(r > 0 for r in results["mixed_vs_one_adapter_throughput"].values())
    assert results["answer_plus_receipt_vs_answer"] > 1 and results["tokens_per_s"]["one_adapter"] > 0


def test_serve_bench_refuses_more_spread_than_adapters(runs: dict[str, Path]) -> None:
    err = bench("run.py", runs, "--spreads", "8", "32", fails=True)
    assert "--spreads 32 needs that many causal-LM adapters" in err and "serve 8" in err and "Traceback" not in err


def test_load_bench_loses_no_receipt_and_settles_exact_fees(runs: dict[str, Path]) -> None:
    out = bench("load.py", runs, "--clients", "4", "--requests", "3", "--max-tokens", "2")
    assert "4 clients x 3 requests over 8 adapters: p50" in out, out
    results = json.loads((REPO / "experiments/serve_bench/out/load.json").read_text())
    assert results["concurrent"]["ok"] == 12 and results["concurrent"]["errors"] == []
    assert results["receipts_missing_from_store"] == 0 and results["receipts_stored"] == 8 + 3 + 12
    assert results["settled_fees_exact"] and results["throughput_concurrent_vs_one_client"] > 0


@pytest.mark.parametrize("run", ["clf", "lm_r4"])
def test_fidelity_compares_receipts_with_exact_trak(runs: dict[str, Path], run: str) -> None:
    """The receipts' top-10 are the scorer's at the run's projection; exact TRAK (no projection) agrees with itself."""
    proc = subprocess.run(
        [sys.executable, str(REPO / "experiments/serve_bench/fidelity.py"), str(runs[run]), "--answers", "2",
         "--ks", "32", "128", "--max-tokens", "2"],
        cwd=runs[run].parent.parent, capture_output=True, text=True, timeout=1200,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "receipt top-10 overlap with exact TRAK at the default projection:" in proc.stdout
    results = json.loads((REPO / "experiments/serve_bench/out/fidelity.json").read_text())
    receipts, *scorers = results["rows"]
    assert receipts["receipts"] and results["answers"] == 2 and [r["k"] for r in scorers] == [32, 128]
    at_run_k = next(r for r in scorers if r["k"] == results["default_k"])
    assert at_run_k["top_overlap"] == receipts["top_overlap"]  # the receipts rank by this very scorer
    assert all(0 <= r["top_overlap"] <= 1 and -1 <= r["spearman"] <= 1 for r in scorers)


def test_the_32_adapter_config_makes_16_tiny_causal_lm_adapters_per_run() -> None:
    from olab.pipeline.config import load_config

    cfg = load_config(REPO / "experiments/serve_bench/adapters32.yaml")
    assert cfg.run.models == 16 and cfg.finetune.task == "causal_lm" and cfg.finetune.base_model == "tiny-gpt2"
