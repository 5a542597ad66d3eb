"""report.html: one self-contained file with every section, rendered offline by a real browser."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from eth_utils import to_checksum_address

from olab import rewards, viz
from olab.errors import ValidationError
from olab.metrics import roc_auc
from olab.report import Link, build_report, run_report

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
CHROMIUM = os.environ.get("OLAB_CHROMIUM", "/usr/bin/chromium")
BEHAVIOURS = {
    to_checksum_address(f"0x{h * 20}"): b for h, b in (("a1", "clean"), ("b2", "label_noise"), ("c3", "spam"))
}


def run_pieces(flips: bool = True) -> dict:
    """What a run hands the report: shares, contributor table, records with ground truth, a target, metrics."""
    rng = np.random.default_rng(0)
    addrs = list(BEHAVIOURS)
    contributor = np.repeat(addrs, 20)
    flipped = (contributor == addrs[1]) & (rng.random(60) < 0.5) if flips else np.zeros(60, bool)
    records = pd.DataFrame(
        {
            "record_id": [f"rec-{i}" for i in range(60)],
            "contributor": contributor,
            "influence": rng.normal(size=60) - 2 * flipped,
            "self_influence": rng.normal(size=60) + 2 * flipped,
            "flipped": flipped,
            "text": [f"Record {i}: shares </script><b>rally</b> & more" for i in range(60)],
        }
    )
    table = (
        records.groupby("contributor")["influence"]
        .agg(positive=lambda s: s.clip(lower=0).sum(), negative=lambda s: s.clip(upper=0).sum(), total="sum")
        .reset_index()
        .assign(behaviour=lambda d: d["contributor"].map(BEHAVIOURS))
    )
    scores = records.assign(score=rng.normal(size=60))[["record_id", "contributor", "score", "text"]]
    r = rewards.compute(table)
    manifest = {
        "run_id": "0x" + "12" * 32,
        "name": "quickstart",
        "config": {"secret_looking_config": "not shown"},
        "datanet": {"name": "news", "version": 1, "root": "0x" + "34" * 32},
        "rewards": {"root": r.root, "policy": "positive_influence"},
        "chain": {
            "backend": "anvil",
            "chain_id": 161201,
            "explorer_url": "https://explorer.example/",
            "contracts": {"registry": "0x" + "ef" * 20},
            "transactions": {"publish": "0x" + "99" * 32},
        },
        "timings": {"datanet": 1.5, "finetune": 40.0, "attribution": 61.2},
    }
    return {
        "manifest": manifest,
        "rewards": r,
        "contributors": table,
        "records": records,
        "targets": [{"text": "Stocks <rally> as rates hold", "label": "Business", "scores": scores}],
        "training": [{"step": s, "loss": 1 / s} for s in range(1, 30)] + [{"step": 29, "eval_accuracy": 0.8}],
    }


def scripts(page: str) -> list[str]:
    return re.findall(r"<script[^>]*>(.*?)</script>", page, flags=re.S)


def test_build_report_is_one_self_contained_deterministic_file(tmp_path):
    figs = [viz.gas_or_timings({"a": 1.0}), viz.contributor_shares({next(iter(BEHAVIOURS)): 1_000_000})]
    sections = [
        ("First figure", figs[0], "caption one"),
        ("A table", [{"who": "<alice>", "n": 2}, {"who": "bob", "n": 3}], "caption & two"),
        ("Second figure", figs[1], ""),
        ("Notes", "para one\n\npara <two>", ""),
    ]
    summary = {"run_id": "0x" + "ab" * 32, "tx": Link("0xfeed", "https://ex.example/tx/0xfeed"), "nested": {"k": 1.5}}
    path = build_report(tmp_path / "report.html", title="T <1>", summary=summary, sections=sections)
    page = path.read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]  # atomic: nothing else left behind
    assert not re.search(r"<script[^>]*\bsrc=", page) and "<link" not in page  # nothing fetched
    body = scripts(page)
    assert len(body) == 3 and "Plotly" in body[0] and len(body[0]) > 1_000_000  # plotly.js inlined, once
    assert page.count(body[0]) == 1
    assert re.findall(r'Plotly\.newPlot\(\s*"([^"]+)"', page) == ["olab-figure-1", "olab-figure-3"]
    for text in (
        "First figure",
        "caption one",
        "caption &amp; two",
        "&lt;alice&gt;",
        "para &lt;two&gt;",
        "T &lt;1&gt;",
    ):
        assert text in page
    assert '<a href="https://ex.example/tx/0xfeed"><code>0xfeed</code></a>' in page
    assert f"<code>0x{'ab' * 32}</code>" in page and "<th>k</th><td>1.5</td>" in page
    again = build_report(tmp_path / "again.html", title="T <1>", summary=summary, sections=sections)
    assert again.read_bytes() == path.read_bytes()


def test_build_report_rejects_unknown_content_and_leaves_no_file(tmp_path):
    with pytest.raises(ValidationError, match="section 1: content must be a plotly Figure"):
        build_report(tmp_path / "r.html", title="t", sections=[("x", {"a": 1}, "")])
    assert not list(tmp_path.iterdir())


def test_run_report_lays_out_every_section(tmp_path):
    pieces = run_pieces()
    page = run_report(tmp_path / "report.html", **pieces).read_text()
    headings = re.findall(r"<h2>(.*?)</h2>", page)
    assert headings == [
        "Summary",
        "Contributor reward shares",
        "Contributor leaderboard",
        "Influence of each record, by contributor",
        "Proponents and opponents of a target labelled Business",
        "Training",
        "Finding flipped labels",
        "Self-influence by contributor",
        "Stage timings",
    ]
    records = pieces["records"]
    auc = roc_auc(records["self_influence"], records["flipped"])
    assert f"ROC AUC = {auc:.3f}" in page and f"ROC AUC {auc:.3f}" in page
    assert pieces["rewards"].root in page and "positive_influence" in page
    assert "label_noise \\u00b7 0x" in page  # contributors are named by their behaviour column (JSON-escaped)
    assert "secret_looking_config" not in page  # the resolved config stays in manifest.json
    assert f'href="https://explorer.example/tx/0x{"99" * 32}"' in page
    assert f'href="https://explorer.example/address/0x{"ef" * 20}"' in page
    assert "Stocks &lt;rally&gt;" in page
    assert len(scripts(page)) == 1 + 8 and not re.search(r"<script[^>]*\bsrc=", page)


def test_run_report_without_ground_truth_or_optional_pieces(tmp_path):
    pieces = run_pieces(flips=False)
    page = run_report(
        tmp_path / "report.html", manifest={**pieces["manifest"], "timings": {}}, rewards=pieces["rewards"].as_dict()
    ).read_text()
    assert re.findall(r"<h2>(.*?)</h2>", page) == ["Summary", "Contributor reward shares", "Contributor leaderboard"]
    page = run_report(tmp_path / "r2.html", **pieces).read_text()
    assert "Finding flipped labels" not in page and "Influence of each record" in page


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_figure_scripts_are_valid_javascript(tmp_path):
    page = run_report(tmp_path / "report.html", **run_pieces()).read_text()
    for i, body in enumerate(scripts(page)[1:]):
        js = tmp_path / f"figure-{i}.js"
        js.write_text(body)
        result = subprocess.run(["node", "--check", str(js)], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr


@pytest.mark.browser
@pytest.mark.skipif(not Path(CHROMIUM).is_file(), reason=f"no Chromium at {CHROMIUM} (set OLAB_CHROMIUM)")
def test_report_renders_offline_in_headless_chromium(tmp_path):
    from playwright.sync_api import sync_playwright

    pieces = run_pieces()
    path = run_report(tmp_path / "report.html", **pieces)
    ARTIFACTS.mkdir(exist_ok=True)
    external: list[str] = []
    errors: list[str] = []
    seen: dict[str, object] = {}

    def browse() -> None:
        # in its own thread: a session-scoped Playwright of the browser tests may hold this thread's event loop
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=CHROMIUM,
                args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
            )
            try:
                page = browser.new_page(viewport={"width": 1200, "height": 900})
                page.on(
                    "request",
                    lambda r: None if r.url.startswith(("file:", "data:", "blob:")) else external.append(r.url),
                )
                page.on("pageerror", lambda e: errors.append(str(e)))
                page.goto(path.as_uri())
                page.wait_for_function(
                    "document.querySelectorAll('.js-plotly-plot .main-svg').length >= 8", timeout=30_000
                )
                seen["bars"] = page.locator("#olab-figure-1 .bars .point").count()
                seen["shares_text"] = page.inner_text("#olab-figure-1")
                seen["rows"] = page.evaluate("document.querySelector('#olab-figure-2').data[0].cells.values[0].length")
                page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)  # kept for a person to look at
            finally:
                browser.close()

    def guarded() -> None:
        try:
            browse()
        except BaseException as e:  # re-raised below, in the test's own thread
            seen["error"] = e

    worker = threading.Thread(target=guarded)
    worker.start()
    worker.join(timeout=120)
    if "error" in seen:
        raise seen["error"]
    bars, shares_text, rows = seen["bars"], seen["shares_text"], seen["rows"]
    assert errors == [] and external == []
    assert bars == len(pieces["rewards"].shares) and rows == len(pieces["rewards"].shares)
    assert "label_noise · 0x" in shares_text


def test_run_report_leaderboard_lists_fee_split_recipients(tmp_path):
    pieces = run_pieces()
    dev = to_checksum_address("0x" + "de" * 20)
    cfg = rewards.RewardsConfig(split={"developer": 0.1, "contributors": 0.9, "developer_address": dev})
    pieces["rewards"] = rewards.compute(pieces["contributors"], cfg)
    page = run_report(tmp_path / "report.html", **pieces).read_text()
    board = re.search(r'Plotly\.newPlot\(\s*"olab-figure-2",(.*?)</script>', page, flags=re.S).group(1)
    assert viz.short_address(dev).replace("…", "\\u2026") in board and '"10.00"' in board
