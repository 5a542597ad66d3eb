"""experiments/scale_bench: the memory part runs at tiny sizes and reports what it measured (the speed part runs
attribution on Ray, which tests/attribution/test_ray_executor.py covers)."""

from __future__ import annotations

import json

from repo_paths import load_script

scale_bench = load_script("scale_bench", "experiments/scale_bench/run.py")


def test_quick_memory_run_reports_peak_memory_per_size(tmp_path, capsys):
    assert scale_bench.main(["--quick", "--skip-speed", "--out", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    rows = results["memory"]
    assert [r["rows"] for r in rows] == scale_bench.QUICK["rows"]
    assert all(0 < r["peak_rss_mib"] < 8 * 1024 and r["score_s"] >= 0 for r in rows)
    assert "blocked scoring 4,000 x 50: peak" in capsys.readouterr().out
