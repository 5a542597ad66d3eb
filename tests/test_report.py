"""report.html: one self-contained file with every section, rendered offline by a real browser."""

from __future__ import annotations

import base64
import gzip
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from eth_utils import to_checksum_address
from report_view import CHROMIUM, view_report

from olab import rewards, viz
from olab.errors import ValidationError
from olab.metrics import roc_auc
from olab.pipeline.manifest import Manifest
from olab.report import LOADER, Link, build_report, plotly_bundle, run_report

BEHAVIOURS = {
    to_checksum_address(f"0x{h * 20}"): b for h, b in (("a1", "clean"), ("b2", "label_noise"), ("c3", "spam"))
}


# the quickstart's six: three more clean contributors, with names as long as a run's display names
SIX = BEHAVIOURS | {
    to_checksum_address(f"0x{h * 20}"): f"contributor {i} (clean)" for i, h in ((3, "d4"), (4, "e5"), (5, "f6"))
}


def run_pieces(flips: bool = True, behaviours: dict[str, str] = BEHAVIOURS) -> dict:
    """What a run hands the report: shares, contributor table, records with ground truth, a target, metrics."""
    rng = np.random.default_rng(0)
    addrs = list(behaviours)
    n = 20 * len(addrs)
    contributor = np.repeat(addrs, 20)
    flipped = (contributor == addrs[1]) & (rng.random(n) < 0.5) if flips else np.zeros(n, bool)
    records = pd.DataFrame(
        {
            "record_id": [f"rec-{i}" for i in range(n)],
            "contributor": contributor,
            "influence": rng.normal(size=n) - 2 * flipped,
            "self_influence": rng.normal(size=n) + 2 * flipped,
            "flipped": flipped,
            "text": [f"Record {i}: shares </script><b>rally</b> & more" for i in range(n)],
        }
    )
    table = (
        records.groupby("contributor")["influence"]
        .agg(positive=lambda s: s.clip(lower=0).sum(), negative=lambda s: s.clip(upper=0).sum(), total="sum")
        .reset_index()
        .assign(behaviour=lambda d: d["contributor"].map(behaviours))
    )
    scores = records.assign(score=rng.normal(size=n))[["record_id", "contributor", "score", "text"]]
    r = rewards.compute(table, rewards.RewardsConfig(policy="positive_influence"))  # a contributor-level table
    manifest = Manifest.model_validate(
        {
            "olab_version": "0",
            "run_id": "0x" + "12" * 32,
            "manifest_hash": "0x" + "56" * 32,
            "name": "quickstart",
            "config": {"secret_looking_config": "not shown"},
            "config_hash": "sha256:" + "78" * 32,
            "datanet": {
                "path": "datanets/news",
                "name": "news",
                "version": 1,
                "root": "0x" + "34" * 32,
                "record_count": n,
            },
            "targets": {"hash": "sha256:" + "9a" * 32, "count": 1, "path": "targets.parquet"},
            "base_model": {"id": "tiny", "weight_hash": "sha256:" + "bc" * 32},
            "adapter": {"path": "adapters", "models": ["sha256:" + "de" * 32], "hash": "sha256:" + "f0" * 32},
            "attribution": {
                "path": "attribution",
                "engine": "olab",
                "config": {},
                "shape": [n, 1],
                "scores_hash": "sha256:" + "0f" * 32,
            },
            "rewards": {"path": "rewards.json", "root": r.root, "policy": "positive_influence"},
            "chain": {
                "backend": "anvil",
                "chain_id": 161201,
                "explorer_url": "https://explorer.example/",
                "addresses": {"registry": "0x" + "ef" * 20},
                "transactions": {"publish_run": {"tx_hash": "0x" + "99" * 32}},
            },
            "timings": {"datanet": 1.5, "finetune": 40.0, "attribution": 61.2},
        }
    )
    return {
        "manifest": manifest,
        "rewards": r,
        "contributors": table,
        "records": records,
        "targets": [{"text": "Stocks <rally> as rates hold", "label": "Business", "scores": scores}],
        "training": [{"step": s, "loss": 1 / s, "learning_rate": 1e-3} for s in range(1, 30)]
        + [{"step": 29, "eval_accuracy": 0.8, "eval_loss": 0.5}],
    }


def scripts(page: str) -> list[str]:
    return re.findall(r"<script[^>]*>(.*?)</script>", page, flags=re.S)


def figure_specs(page: str) -> dict[str, dict]:
    """Figure div id -> the plotly figure JSON drawn into it."""
    found = re.findall(
        r'<script type="application/json" class="olab-figure" data-target="([^"]+)">(.*?)</script>', page, flags=re.S
    )
    return {div: json.loads(spec) for div, spec in found}


def headings(page: str) -> list[str]:
    return re.findall(r"<h2>(.*?)</h2>", page)


def test_build_report_is_one_self_contained_deterministic_file(tmp_path):
    figs = [viz.gas_or_timings({"a": 1.0}), viz.contributor_shares({next(iter(BEHAVIOURS)): 1_000_000})]
    sections = [
        ("First figure", figs[0], "caption one"),
        ("A table", [{"who": "<alice>", "n": 2}, {"who": "bob", "n": 3}], "caption & two"),
        ("Second figure", figs[1], ""),
        ("Notes", "para one\n\npara <two>", ""),
    ]
    provenance = {
        "run_id": "0x" + "ab" * 32,
        "tx": Link("0xfeed", "https://ex.example/tx/0xfeed"),
        "nested": {"k": 1.5},
    }
    parts = {"title": "T <1>", "summary": ["Who got what </li>."], "sections": sections, "provenance": provenance}
    path = build_report(tmp_path / "report.html", **parts)
    page = path.read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]  # atomic: nothing else left behind
    assert not re.search(r"<script[^>]*\bsrc=", page) and "<link" not in page  # nothing fetched
    bundle = re.search(r'<script id="olab-plotly" type="application/gzip;base64">(.*?)</script>', page).group(1)
    js = gzip.decompress(base64.b64decode(bundle)).decode()
    assert "window.Plotly = Plotly" in js and page.count(bundle) == 1  # plotly.js inlined once, packed
    assert list(figure_specs(page)) == ["olab-figure-1", "olab-figure-3"]
    assert figure_specs(page)["olab-figure-1"]["data"][0]["type"] == "bar"
    summary, provenance_at = page.index('id="summary"'), page.index('id="provenance"')
    # the answer first, the provenance last
    assert summary < page.index("<h2>First figure") < page.index("<h2>Notes") < provenance_at
    assert "<details><summary>Provenance" in page  # collapsed
    for text in (
        "Who got what &lt;/li&gt;.",
        "caption one",
        "caption &amp; two",
        "&lt;alice&gt;",
        "para &lt;two&gt;",
        "T &lt;1&gt;",
    ):
        assert text in page
    assert '<td class="num">2</td>' in page  # numbers right-aligned
    assert '<a href="https://ex.example/tx/0xfeed"><code>0xfeed</code></a>' in page
    assert f"<code>0x{'ab' * 32}</code>" in page and "<th>k</th><td>1.5</td>" in page
    again = build_report(tmp_path / "again.html", **parts)
    assert again.read_bytes() == path.read_bytes()


def test_build_report_rejects_unknown_content_and_leaves_no_file(tmp_path):
    with pytest.raises(ValidationError, match="section 1: content must be a plotly Figure"):
        build_report(tmp_path / "r.html", title="t", sections=[("x", {"a": 1}, "")])
    assert not list(tmp_path.iterdir())


def test_the_inlined_plotly_matches_the_plotly_python_builds_figures_for():
    from plotly.offline import get_plotlyjs_version

    js = gzip.decompress(base64.b64decode(plotly_bundle())).decode()
    version = re.search(r"plotly\.js \(cartesian - minified\) v(\d+)\.", js[:300]).group(1)
    assert version == get_plotlyjs_version().split(".")[0], "refresh olab/assets (see its README)"


def test_the_roc_view_ranks_by_the_runs_detector_and_names_it(tmp_path):
    """With a harm_score column (olab.detection under run.detector) the ROC and the summary use it, by name."""
    pieces = run_pieces()
    records = pieces["records"].assign(harm_score=lambda d: d["self_influence"] + d["flipped"])
    manifest = pieces["manifest"].model_copy(update={"config": {"run": {"detector": "training_loss"}}})
    page = run_report(tmp_path / "report.html", **{**pieces, "records": records, "manifest": manifest}).read_text()
    auc = roc_auc(records["harm_score"], records["flipped"])
    assert auc > roc_auc(records["self_influence"], records["flipped"])
    assert f"Ranking records by training loss finds them with ROC AUC {auc:.3f}" in page
    assert f"Ranking records by training loss (run.detector) finds them with ROC AUC {auc:.3f}" in page
    assert f"Training loss finds flipped labels: ROC AUC = {auc:.3f}" in page


def test_run_report_leads_with_the_answer(tmp_path):
    pieces = run_pieces()
    page = run_report(tmp_path / "report.html", **pieces).read_text()
    assert headings(page) == [
        "Summary",
        "Reward shares",
        "Leaderboard",
        "Behind each payout",
        "Influence of each record, by contributor",
        "Proponents and opponents of a target labelled Business",
        "Training",
        "Finding flipped labels",
        "Self-influence by contributor",
        "Stage timings",
    ]
    records, r = pieces["records"], pieces["rewards"]
    auc = roc_auc(records["self_influence"], records["flipped"])
    summary = re.search(r'<ul class="summary">(.*?)</ul>', page).group(1)
    top, bottom = r.ranked()[0], r.ranked()[-1]
    assert f"the largest share, {top.share_ppm / 10_000:.1f} %, goes to {BEHAVIOURS[top.contributor]}" in summary
    assert f"the smallest, {bottom.share_ppm / 10_000:.1f} %, to {BEHAVIOURS[bottom.contributor]}" in summary
    assert f"{int(records['flipped'].sum())} of 60 training records have flipped labels" in summary
    noisy = next(a for a, b in BEHAVIOURS.items() if b == "label_noise")
    rank = [s.contributor for s in r.ranked()].index(noisy) + 1
    share = f"{r.share(noisy).share_ppm / 10_000:.1f} %"
    assert (
        f"truth): {int(records['flipped'].sum())} from label_noise, whose share, {share}, ranks {rank} of 3." in summary
    )
    assert f"ROC AUC {auc:.3f}" in summary
    assert "accuracy 80.0 % (loss 0.500) after 29 steps" in summary
    assert "ROC AUC = " + f"{auc:.3f}" in page and r.root in page and "positive_influence" in page
    assert "secret_looking_config" not in page  # the resolved config stays in manifest.json
    assert f'href="https://explorer.example/tx/0x{"99" * 32}"' in page
    assert f'href="https://explorer.example/address/0x{"ef" * 20}"' in page
    assert page.index("Stage timings") < page.index('id="provenance"')
    assert "Stocks &lt;rally&gt;" in page and ".." not in re.sub(r"<[^>]+>", "", page.split('id="olab-plotly"')[0])


def test_run_report_leaderboard_is_a_full_table_with_names(tmp_path):
    pieces = run_pieces()
    page = run_report(tmp_path / "report.html", **pieces).read_text()
    board = re.search(r"<h2>Leaderboard</h2>(.*?)</section>", page, flags=re.S).group(1)
    rows = re.findall(r"<tr>(.*?)</tr>", board.split("<tbody>")[1])
    assert len(rows) == len(pieces["rewards"].shares)
    cells = [re.findall(r"<td[^>]*>(.*?)</td>", row) for row in rows]
    ranked = pieces["rewards"].ranked()
    assert [c[1] for c in cells] == [BEHAVIOURS[s.contributor] for s in ranked]
    assert [c[2] for c in cells] == [viz.short_address(s.contributor) for s in ranked]
    assert [c[4] for c in cells] == [str(s.share_ppm) for s in ranked]
    assert "<th >helpful influence</th>" not in board and '<th class="num">share (ppm)</th>' in board


def test_run_report_one_metric_per_axis_with_units(tmp_path):
    page = run_report(tmp_path / "report.html", **run_pieces()).read_text()
    specs = figure_specs(page)
    training = next(s for s in specs.values() if any(t.get("name") == "train loss" for t in s["data"]))
    by_axis = {}
    for t in training["data"]:
        by_axis.setdefault(t.get("yaxis", "y"), []).append(t["name"])
    assert by_axis == {"y": ["train loss", "eval loss"], "y2": ["eval accuracy"]}  # no learning rate
    layout = training["layout"]
    assert layout["yaxis"]["title"]["text"] == "loss (cross-entropy)"
    assert (
        layout["yaxis2"]["title"]["text"] == "accuracy (%)" and layout["xaxis2"]["title"]["text"] == "optimisation step"
    )
    accuracy = next(t for t in viz.training_curve(run_pieces()["training"]).data if t.name == "eval accuracy")
    assert list(accuracy.y) == [80.0]
    for spec in specs.values():  # every axis that shows values is titled
        for t in spec["data"]:
            value_axes = {"bar": "x" if t.get("orientation") == "h" else "y", "box": "y", "scatter": "y"}[t["type"]]
            for a in value_axes:
                name = a + "axis" + t.get(a + "axis", a)[1:]
                assert spec["layout"][name]["title"]["text"], (name, t.get("name"))


def test_run_report_without_ground_truth_or_optional_pieces(tmp_path):
    pieces = run_pieces(flips=False)
    page = run_report(
        tmp_path / "report.html",
        manifest=pieces["manifest"].model_copy(update={"timings": {}}),
        rewards=pieces["rewards"].as_dict(),
    ).read_text()
    assert headings(page) == ["Summary", "Reward shares", "Leaderboard"]
    assert "flipped labels" not in page and "accuracy" not in page
    page = run_report(tmp_path / "r2.html", **pieces).read_text()
    assert "Finding flipped labels" not in page and "Influence of each record" in page


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_the_loader_is_valid_javascript(tmp_path):
    js = tmp_path / "loader.js"
    js.write_text(LOADER % "{}")
    result = subprocess.run(["node", "--check", str(js)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.browser
@pytest.mark.skipif(not Path(CHROMIUM).is_file(), reason=f"no Chromium at {CHROMIUM} (set OLAB_CHROMIUM)")
def test_report_first_screen_shows_the_summary_and_every_contributor(tmp_path):
    pieces = run_pieces(behaviours=SIX)
    seen = view_report(run_report(tmp_path / "report.html", **pieces), "report")
    assert seen["errors"] == [] and seen["external"] == []
    assert seen["figures"] == 7 and seen["bars"] == len(pieces["rewards"].shares) == 6
    assert seen["summary_visible"] and "flipped labels" in seen["summary"]
    assert [r["contributor"] for r in seen["rows"]] == [SIX[s.contributor] for s in pieces["rewards"].ranked()]
    assert all(r["visible"] for r in seen["rows"]), seen["rows"]
    assert not seen["inner_scroll"]
    assert "label_noise · 0x" in seen["shares_text"]


def test_run_report_leaderboard_lists_fee_split_recipients(tmp_path):
    pieces = run_pieces()
    dev = to_checksum_address("0x" + "de" * 20)
    cfg = rewards.RewardsConfig(
        policy="positive_influence", split={"developer": 0.1, "contributors": 0.9, "developer_address": dev}
    )
    pieces["rewards"] = rewards.compute(pieces["contributors"], cfg)
    pieces["rewards"].names = cfg.split.recipients()
    page = run_report(tmp_path / "report.html", **pieces).read_text()
    board = re.search(r"<h2>Leaderboard</h2>(.*?)</section>", page, flags=re.S).group(1)
    assert f'<td >developer</td><td >{viz.short_address(dev)}</td><td class="num">10</td>' in board


def per_record_pieces() -> dict:
    """The pieces of a per_record run: a contributor whose harmful records owe more than its share, and
    rounding units that stay in the pool (the POOL_REMAINDER leaf)."""
    pieces = run_pieces()
    records = pieces["records"]
    paid = rewards.compute(records, rewards.RewardsConfig(policy="per_record"))
    assert paid.as_dict().get(rewards.POOL_REMAINDER, 0) > 0, "the example must leave rounding in the pool"
    paid.names = {**BEHAVIOURS, rewards.POOL_REMAINDER: "rounding (stays in the pool)"}
    table = pieces["contributors"].drop(columns="behaviour")
    signals = rewards.payout_signals(
        table, paid, list(records["contributor"]), list(records["record_id"]), [None] * len(records)
    )
    return pieces | {"rewards": paid, "contributors": signals}


def test_run_report_ranks_by_net_payout_and_keeps_the_pool_rounding_out_of_the_contributors(tmp_path):
    pieces = per_record_pieces()
    paid = pieces["rewards"]
    net = {a: v for a, v in paid.net_ppm().items() if a != rewards.POOL_REMAINDER}
    assert min(net.values()) < 0  # the label-noise contributor owes more than it earns
    page = run_report(tmp_path / "report.html", **pieces).read_text()
    board = re.search(r"<h2>Leaderboard</h2>(.*?)</section>", page, flags=re.S).group(1)
    head = re.findall(r"<th(?: [^>]*)?>(.*?)</th>", board)
    assert head == ["#", "contributor", "address", "share (%)", "share (ppm)", "net payout (%)", "net payout (ppm)"]
    cells = [
        re.findall(r"<td[^>]*>(.*?)</td>", row) for row in re.findall(r"<tr>(.*?)</tr>", board.split("<tbody>")[1])
    ]
    by_net = sorted(net, key=lambda a: (-net[a], a.lower()))
    assert [c[1] for c in cells] == [BEHAVIOURS[a] for a in by_net]  # no rounding row
    assert [int(c[6]) for c in cells] == [net[a] for a in by_net]
    kept = paid.as_dict()[rewards.POOL_REMAINDER]
    assert f"Rounding: {kept} ppm nobody is owed stay in the pool" in board
    summary = re.search(r'<ul class="summary">(.*?)</ul>', page).group(1)
    top, bottom = by_net[0], by_net[-1]
    assert summary.startswith(
        f"<li>3 contributors share the rewards: the largest net payout, {net[top] / 10_000:.1f} %, goes to "
        f"{BEHAVIOURS[top]}; the smallest, {net[bottom] / 10_000:.1f} %, to {BEHAVIOURS[bottom]}"
    )
    assert "rounding" not in summary and "ranks 3 of 3" in summary
    spec = next(s for s in figure_specs(page).values() if s["data"][0].get("orientation") == "h")
    assert len(spec["data"][0]["y"]) == 3  # the shares chart has no rounding bar either
    breakdown = re.search(r"<h2>Behind each payout</h2>(.*?)</section>", page, flags=re.S).group(1)
    head = re.findall(r"<th(?: [^>]*)?>(.*?)</th>", breakdown)
    assert head[0] == "contributor" and "harm owed from stake (ppm)" in head and "near-copies flagged" in head
    assert "share" not in " ".join(head)  # the payout columns stay in the leaderboard


@pytest.mark.browser
@pytest.mark.skipif(not Path(CHROMIUM).is_file(), reason=f"no Chromium at {CHROMIUM} (set OLAB_CHROMIUM)")
def test_per_record_report_first_screen_shows_every_contributor(tmp_path):
    pieces = per_record_pieces()
    seen = view_report(run_report(tmp_path / "report.html", **pieces), "report-per-record")
    assert seen["errors"] == [] and seen["external"] == []
    assert sorted(r["contributor"] for r in seen["rows"]) == sorted(BEHAVIOURS.values())
    assert all(r["visible"] for r in seen["rows"]), seen["rows"]
    assert not seen["inner_scroll"]
