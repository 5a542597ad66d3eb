"""The projection-fidelity experiment (experiments/projection_fidelity/run.py): a tiny run end to end."""

from __future__ import annotations

import json

from repo_paths import load_script, needs_agnews

fidelity = load_script("projection_fidelity", "experiments/projection_fidelity/run.py")


@needs_agnews
def test_tiny_run_writes_a_row_per_projection_and_k(tmp_path):
    fidelity.main(["--n-train", "24", "--n-targets", "3", "--ks", "128", "--epochs", "1",
                   "--dampings", "1", "--out", str(tmp_path)])  # fmt: skip
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["grad_dim"] == 75268
    assert [(r["projection"], r["k"]) for r in results["rows"]] == [("dense", 128), ("kronecker", 128)]
    assert all(-1 <= r["1.0"] <= 1 for r in results["rows"])
    assert "| dense | 128 |" in (tmp_path / "results.md").read_text()
