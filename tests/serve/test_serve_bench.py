"""experiments/serve_bench runs on real runs and prints its figures (the figures themselves are in its README)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from repo_paths import REPO


def bench(script: str, runs: dict[str, Path], *args: str) -> str:
    """Run experiments/serve_bench/`script` on the two causal-LM runs (8 adapters) from their project; its stdout."""
    proc = subprocess.run(
        [sys.executable, str(REPO / "experiments/serve_bench" / script), str(runs["lm_r4"]), str(runs["lm_r8"]), *args],
        cwd=runs["lm_r4"].parent.parent, capture_output=True, text=True, timeout=1200,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def test_serve_bench_prints_the_mixed_batch_and_receipt_ratios(runs: dict[str, Path]) -> None:
    out = bench("run.py", runs, "--batch", "8", "--max-tokens", "2", "--rounds", "1")
    assert "mixed batch over 8 adapters vs one adapter:" in out and "answer + receipt vs answer alone:" in out
    results = json.loads((REPO / "experiments/serve_bench/out/results.json").read_text())
    assert results["adapters_in_mixed_batch"] == 8
    assert results["mixed_vs_one_adapter_throughput"] > 0 and results["answer_plus_receipt_vs_answer"] > 1


def test_load_bench_loses_no_receipt_and_settles_exact_fees(runs: dict[str, Path]) -> None:
    out = bench("load.py", runs, "--clients", "4", "--requests", "3", "--max-tokens", "2")
    assert "4 clients x 3 requests over 8 adapters: p50" in out, out
    results = json.loads((REPO / "experiments/serve_bench/out/load.json").read_text())
    assert results["concurrent"]["ok"] == 12 and results["concurrent"]["errors"] == []
    assert results["receipts_missing_from_store"] == 0 and results["receipts_stored"] == 8 + 3 + 12
    assert results["settled_fees_exact"] and results["throughput_concurrent_vs_one_client"] > 0
