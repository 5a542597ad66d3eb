"""experiments/serve_bench/coldload.py in its --quick form on a real run: many registered adapters with honestly
committed hashes, a bound on resident ones, and the cold-load figures printed (the figures are in its README)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from repo_paths import REPO


def test_coldload_bench_prints_cold_load_times_and_hit_rate(runs: dict[str, Path]) -> None:
    proc = subprocess.run(
        [sys.executable, str(REPO / "experiments/serve_bench/coldload.py"), str(runs["lm_r4"]), "--quick"],
        cwd=runs["lm_r4"].parent.parent, capture_output=True, text=True, timeout=1200,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "40 adapters registered, 8 resident (at most 8 seen), 120 requests (uniform): hit rate" in proc.stdout
    out = json.loads((REPO / "experiments/serve_bench/out/coldload.json").read_text())
    assert out["most_resident"] == 8 and 0 < out["hit_rate"] < 1
    assert out["cold_loads"] == round(120 * (1 - out["hit_rate"])) and out["cold_loads"] > 8  # more than fit
    assert 0 < out["hash_check_p50_s"] < out["cold_load_p50_s"] <= out["cold_load_p95_s"]
    assert out["cold_vs_warm_request"] > 0
