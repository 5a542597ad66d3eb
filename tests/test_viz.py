"""Figures: the traces each viz function draws from its data, and ROC AUC against scikit-learn."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from eth_utils import to_checksum_address
from hypothesis import given, settings
from hypothesis import strategies as st

from olab import rewards, viz
from olab.errors import ValidationError
from olab.metrics import roc_auc

A, B, C = (to_checksum_address(f"0x{h * 20}") for h in ("a1", "b2", "c3"))


def test_contributors_are_shown_by_short_address_and_label():
    assert viz.short_address(A) == f"{A[:6]}…{A[-4:]}" and len(viz.short_address(A)) == 11
    assert viz.contributor_label(A) == viz.short_address(A)
    assert viz.contributor_label(A, {A.lower(): "clean"}) == f"clean · {viz.short_address(A)}"
    colors = viz.contributor_colors([C, A, B, A])
    assert colors == viz.contributor_colors([A.lower(), B, C]) and len(set(colors.values())) == 3


def test_contributor_shares_bar_and_donut_from_any_share_form():
    r = rewards.compute({A: 1.0, B: 3.0, C: 0.0})
    forms = [
        r,
        r.as_dict(),
        r.shares,
        [{"contributor": s.contributor, "share_ppm": s.share_ppm} for s in r.shares],
        pd.DataFrame({"contributor": [C, A, B], "share_ppm": [0, 250_000, 750_000]}),
    ]
    for form in forms:
        fig = viz.contributor_shares(form, labels={B: "clean"})
        (bar,) = fig.data
        assert bar.type == "bar" and bar.orientation == "h"
        assert list(bar.y) == [f"clean · {viz.short_address(B)}", viz.short_address(A), viz.short_address(C)]
        assert list(bar.x) == [75.0, 25.0, 0.0]
    (pie,) = viz.contributor_shares(r, kind="donut").data
    assert pie.type == "pie" and list(pie.values) == [750_000, 250_000, 0] and pie.hole > 0
    assert B in pie.hovertext[0]
    with pytest.raises(ValidationError, match="'bar' or 'donut'"):
        viz.contributor_shares(r, kind="pie3d")


def test_with_intervals_the_share_labels_sit_at_the_bars_base_clear_of_the_whiskers():
    from olab.intervals import ShareIntervals

    r = rewards.compute({A: 1.0, B: 3.0})
    plain = viz.contributor_shares(r).data[0]
    assert plain.textposition == "auto" and plain.error_x.array is None
    r.intervals = ShareIntervals({A: (200_000, 300_000), B: (700_000, 800_000)}, targets=10)
    (bar,) = viz.contributor_shares(r).data
    assert list(bar.error_x.array) == [5.0, 5.0] and list(bar.error_x.arrayminus) == [5.0, 5.0]
    assert bar.textposition == "inside" and bar.insidetextanchor == "start"  # the whisker is at the bar's end


def _records(n_per: int = 12) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    return pd.DataFrame(
        {
            "record_id": range(3 * n_per),
            "contributor": [A] * n_per + [B] * n_per + [C] * n_per,
            "influence": np.r_[rng.normal(1, 0.1, n_per), rng.normal(-1, 0.1, n_per), rng.normal(0, 0.1, n_per)],
            "text": [f"record text <{i}>" for i in range(3 * n_per)],
        }
    )


@pytest.mark.parametrize(("kind", "trace_type"), [("box", "box"), ("violin", "violin"), ("strip", "box")])
def test_influence_distribution_one_trace_per_contributor_by_median(kind, trace_type):
    fig = viz.influence_distribution(_records(), kind=kind, labels={B: "noisy"})
    assert [t.type for t in fig.data] == [trace_type] * 3
    assert [t.name for t in fig.data] == [viz.short_address(A), viz.short_address(C), f"noisy · {viz.short_address(B)}"]
    assert len(fig.data[0].y) == 12 and "record text &lt;0&gt;" in fig.data[0].hovertext[0]
    if kind == "strip":
        assert fig.data[0].boxpoints == "all"


def test_influence_distribution_names_a_missing_column():
    with pytest.raises(ValidationError, match=r"needs column\(s\) \['self_influence'\]"):
        viz.influence_distribution(_records(), value="self_influence")


def test_top_records_shows_k_proponents_above_k_opponents_coloured_by_contributor():
    scores = _records().assign(score=lambda d: d["influence"] * (1 + d["record_id"] / 100))
    colors = {A: "#111111", B: "#222222", C: "#333333"}
    fig = viz.top_records(scores, k=4, target="Markets <rally>", colors=colors)
    shown = pd.concat([pd.DataFrame({"y": t.y, "x": t.x, "name": t.name, "color": t.marker.color}) for t in fig.data])
    order = list(fig.layout.yaxis.categoryarray)
    assert len(order) == 8 and set(shown["y"]) == set(order)
    by_y = shown.set_index("y").loc[order]
    assert (by_y["x"].iloc[:4] > 0).all() and (by_y["x"].iloc[4:] < 0).all()
    assert list(by_y["x"].iloc[:4]) == sorted(by_y["x"].iloc[:4], reverse=True)  # strongest proponent on top
    assert by_y["x"].iloc[-1] == scores["score"].min()  # strongest opponent at the bottom
    assert dict(zip(shown["name"], shown["color"], strict=True)) == {
        viz.short_address(A): "#111111",
        viz.short_address(B): "#222222",
    }
    assert "Markets &lt;rally&gt;" in fig.layout.title.text
    assert all("record text &lt;" in c[1] for t in fig.data for c in t.customdata)


def test_top_records_with_no_opponents_shows_only_proponents():
    scores = pd.DataFrame({"record_id": [1, 2, 3], "contributor": [A, B, A], "score": [0.5, 0.2, 0.0]})
    fig = viz.top_records(scores, k=5)
    assert sorted(x for t in fig.data for x in t.x) == [0.2, 0.5]


def test_training_curve_from_hugging_face_log_history():
    history = [
        {"loss": 1.2, "learning_rate": 1e-4, "lr": 1e-4, "grad_norm": 3.0, "epoch": 0.5, "step": 10},
        {"loss": 0.8, "learning_rate": 5e-5, "grad_norm": 2.0, "epoch": 1.0, "step": 20},
        {"eval_loss": 0.9, "eval_accuracy": 0.7, "eval_runtime": 1.1, "eval_samples_per_second": 90.0, "step": 20},
        {"train_runtime": 12.0, "train_loss": 1.0, "epoch": 1.0, "step": 20},
    ]
    fig = viz.training_curve(history)
    got = {t.name: (t.yaxis, list(t.x), list(t.y)) for t in fig.data}
    assert got == {
        "train loss": ("y", [10, 20], [1.2, 0.8]),
        "eval loss": ("y", [20], [0.9]),
        "eval accuracy": ("y2", [20], [70.0]),  # its own panel, in percent
    }
    assert fig.layout.yaxis.title.text == "loss (cross-entropy)" and fig.layout.yaxis2.title.text == "accuracy (%)"
    assert fig.layout.xaxis2.title.text == "optimisation step" and fig.layout.yaxis2.overlaying is None
    with pytest.raises(ValidationError, match="no metric columns"):
        viz.training_curve([{"step": 1, "epoch": 0.1}])


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 6), st.booleans()), min_size=2, max_size=60).filter(
        lambda xs: 0 < sum(y for _, y in xs) < len(xs)
    )
)
def test_roc_curve_matches_scikit_learn_with_ties_and_its_area_is_the_auc(pairs):
    from sklearn.metrics import roc_curve as sk_roc_curve

    scores = [float(s) for s, _ in pairs]
    labels = [y for _, y in pairs]
    fpr, tpr, thresholds = viz.roc_curve(scores, labels)
    sk_fpr, sk_tpr, _ = sk_roc_curve(labels, scores, drop_intermediate=False)
    np.testing.assert_allclose(fpr, sk_fpr)
    np.testing.assert_allclose(tpr, sk_tpr)
    assert list(thresholds[1:]) == sorted(set(scores), reverse=True)
    area = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))  # the trapezoids: ties are diagonal steps
    assert area == pytest.approx(roc_auc(scores, labels), abs=1e-12)


def test_roc_curve_rejects_what_has_no_curve():
    assert [list(a) for a in viz.roc_curve([3, 2, 1, 0], [1, 1, 0, 0])[:2]] == [[0, 0, 0, 0.5, 1], [0, 0.5, 1, 1, 1]]
    with pytest.raises(ValidationError, match="got 0 positive of 3"):
        viz.roc_curve([1, 2, 3], [0, 0, 0])
    with pytest.raises(ValidationError, match="equally long"):
        viz.roc_curve([1, 2, 3], [0, 1])
    with pytest.raises(ValidationError, match="1 are NaN"):
        viz.roc_curve([1, float("nan"), 3], [0, 1, 1])


def test_self_influence_roc_puts_the_auc_in_the_title():
    rng = np.random.default_rng(3)
    flipped = rng.random(80) < 0.25
    scores = rng.normal(size=80) + 1.5 * flipped
    fig = viz.self_influence_roc(scores, flipped)
    auc = roc_auc(scores, flipped)
    assert f"ROC AUC = {auc:.3f}" in fig.layout.title.text
    chance, curve = fig.data
    assert list(chance.x) == [0, 1] and curve.x[0] == 0 and curve.y[-1] == 1.0
    assert f"{int(flipped.sum())} flipped labels" in fig.layout.yaxis.title.text


def test_leaderboard_table_ranks_by_share():
    table = pd.DataFrame(
        {"contributor": [A, B, C], "positive": [1.5, 9.0, 0.25], "share_ppm": [150_000, 825_000, 25_000]}
    )
    (t,) = viz.leaderboard_table(table, labels={C: "spam"}).data
    assert t.type == "table"
    assert list(t.header.values) == [
        "<b>#</b>",
        "<b>contributor</b>",
        "<b>share %</b>",
        "<b>positive</b>",
        "<b>share ppm</b>",
    ]
    rank, who, pct, pos, ppm = (list(v) for v in t.cells.values)
    assert rank == [1, 2, 3] and who[0] == viz.short_address(B) and who[2] == f"spam · {viz.short_address(C)}"
    assert pct == ["82.50", "15.00", "2.50"] and pos == ["9", "1.5", "0.25"] and ppm == ["825000", "150000", "25000"]


def test_gas_or_timings_keeps_the_given_order():
    (bar,) = viz.gas_or_timings({"datanet": 1.25, "finetune": 40.0, "rewards": 0.01}).data
    assert list(bar.y) == ["datanet", "finetune", "rewards"] and list(bar.x) == [1.25, 40.0, 0.01]
    assert list(bar.text) == ["1.2 s", "40.0 s", "0.01 s"]
    (gas,) = viz.gas_or_timings({"publish": 120_345}, unit="gas", title="Gas").data
    assert list(gas.text) == ["120,345 gas"]
    with pytest.raises(ValidationError, match="at least one"):
        viz.gas_or_timings({})


def test_every_figure_is_styled_alike_and_serialises():
    r = rewards.compute({A: 1.0, B: 2.0})
    figs = [
        viz.contributor_shares(r),
        viz.influence_distribution(_records()),
        viz.top_records(_records().rename(columns={"influence": "score"})),
        viz.training_curve({"step": [1, 2], "loss": [1.0, 0.5]}),
        viz.self_influence_roc([0.1, 0.9, 0.3], [0, 1, 0]),
        viz.leaderboard_table(pd.DataFrame({"contributor": [A], "positive": [1.0]})),
        viz.gas_or_timings({"x": 1.0}),
    ]
    for fig in figs:
        assert isinstance(fig, go.Figure)
        assert fig.layout.template.layout.font.family == viz.FONT
        assert fig.layout.height and fig.layout.title.text
        assert fig.to_json()


def test_usage_rewards_stacks_claimed_settled_and_pending_per_contributor():
    usage = [
        {"address": A, "pending": 250.5, "settled": 600, "claimed": 600},
        {"address": B, "pending": 0.0, "settled": 400, "claimed": 0},
    ]
    fig = viz.usage_rewards(usage, labels={A: "clean"})
    assert fig.layout.barmode == "stack"
    parts = {t.name: list(t.x) for t in fig.data}
    assert parts == {"claimed": [600, 0], "settled, not claimed": [0, 400], "earned since the last epoch": [250.5, 0.0]}
    assert list(fig.data[0].y) == [viz.contributor_label(A, {A: "clean"}), viz.contributor_label(B)]
    with pytest.raises(ValidationError, match=r"usage rewards needs column\(s\) \['pending'"):
        viz.usage_rewards([{"address": A, "settled": 1, "claimed": 0}])
