"""experiments/serve_bench runs on real runs and prints both ratios (the figures themselves are in its README)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from repo_paths import REPO


def test_serve_bench_prints_the_mixed_batch_and_receipt_ratios(runs: dict[str, Path]) -> None:
    project = runs["lm_r4"].parent.parent
    proc = subprocess.run(
        [sys.executable, str(REPO / "experiments/serve_bench/run.py"), str(runs["lm_r4"]), str(runs["lm_r8"]),
         "--batch", "8", "--max-tokens", "2", "--rounds", "1"],
        cwd=project, capture_output=True, text=True, timeout=1200,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (
        "mixed batch over 8 adapters vs one adapter:" in proc.stdout
        and "answer + receipt vs answer alone:" in proc.stdout
    )
    results = json.loads((REPO / "experiments/serve_bench/out/results.json").read_text())
    assert results["adapters_in_mixed_batch"] == 8
    assert results["mixed_vs_one_adapter_throughput"] > 0 and results["answer_plus_receipt_vs_answer"] > 1
