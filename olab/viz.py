"""Plotly figures for olab, shared by widgets, notebooks and `report.html`.

Every function is pure: data in (mappings, lists of dicts or DataFrames), a `go.Figure` out, styled
alike. A contributor is shown as a short address `0x1234…abcd`, with a human label in front when
one is given (`labels={address: "label noise"}`); pass one `colors` mapping (`contributor_colors`)
to every figure so a contributor keeps its colour across a notebook or report.
"""

from __future__ import annotations

import html
import math
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from olab.errors import ValidationError
from olab.metrics import roc_auc
from olab.names import short_address

PALETTE = list(qualitative.T10)
FONT = "Inter, -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif"
POSITIVE, NEGATIVE = "#54A24B", "#E45756"

TEMPLATE = go.layout.Template(pio.templates["plotly_white"])
TEMPLATE.layout.update(
    font={"family": FONT, "size": 13, "color": "#222"},
    title={"x": 0.01, "xanchor": "left", "font": {"size": 16}},
    colorway=PALETTE,
    margin={"l": 60, "r": 30, "t": 60, "b": 50},
    hoverlabel={"font": {"family": FONT, "size": 12}, "align": "left"},
    legend={"bgcolor": "rgba(255,255,255,0.6)"},
)


# --- contributors --------------------------------------------------------------------------------


def contributor_label(address: str, labels: Mapping[str, str] | None = None) -> str:
    """`label · 0x1234…abcd` when a label is known, else the short address."""
    name = _lookup(labels, address)
    return f"{name} · {short_address(address)}" if name else short_address(address)


def contributor_colors(addresses: Iterable[str]) -> dict[str, str]:
    """One palette colour per address, assigned in sorted address order (stable across figures)."""
    unique = sorted({str(a).lower() for a in addresses})
    return {a: PALETTE[i % len(PALETTE)] for i, a in enumerate(unique)}


def _lookup(mapping: Mapping[str, Any] | None, address: str) -> Any:
    if not mapping:
        return None
    if address in mapping:
        return mapping[address]
    lowered = {str(k).lower(): v for k, v in mapping.items()}
    return lowered.get(str(address).lower())


def _color(colors: Mapping[str, str] | None, address: str, fallback: Mapping[str, str]) -> str:
    return _lookup(colors, address) or fallback[str(address).lower()]


# --- helpers -------------------------------------------------------------------------------------


def _frame(data: Any, required: Sequence[str], what: str) -> pd.DataFrame:
    """A DataFrame from a DataFrame, list of dicts or dict of lists, with the columns a figure needs."""
    df = data.copy() if isinstance(data, pd.DataFrame) else pd.DataFrame(list(data) if _is_rows(data) else data)
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise ValidationError(f"{what} needs column(s) {missing}; got {list(df.columns)}")
    return df


def _is_rows(data: Any) -> bool:
    return isinstance(data, Sequence | Iterable) and not isinstance(data, Mapping | str | pd.DataFrame)


def _hover_text(text: Any, width: int = 70, limit: int = 360) -> str:
    """Record text for a hover box: escaped, shortened, wrapped."""
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return ""
    s = " ".join(str(text).split())
    s = s if len(s) <= limit else s[: limit - 1] + "…"
    return "<br>".join(html.escape(line) for line in textwrap.wrap(s, width))


def _style(fig: go.Figure, title: str | None, height: int | None = None, **layout: Any) -> go.Figure:
    if title is None:
        layout.setdefault("margin", {"t": 30})
    fig.update_layout(template=TEMPLATE, title_text=title, height=height, **layout)
    return fig


def shares_frame(shares: Any) -> pd.DataFrame:
    """(contributor, share_ppm) rows from Rewards, a list of Share/dicts, a mapping or a DataFrame."""
    if hasattr(shares, "shares"):  # olab.rewards.Rewards
        shares = shares.shares
    if isinstance(shares, Mapping):
        rows = [{"contributor": k, "share_ppm": int(v)} for k, v in shares.items()]
    elif isinstance(shares, pd.DataFrame):
        rows = _frame(shares, ["contributor", "share_ppm"], "contributor shares").to_dict("records")
    else:
        rows = [
            {"contributor": s["contributor"], "share_ppm": int(s["share_ppm"])}
            if isinstance(s, Mapping)
            else {"contributor": s.contributor, "share_ppm": int(s.share_ppm)}
            for s in shares
        ]
    df = pd.DataFrame(rows, columns=["contributor", "share_ppm"])
    df["_key"] = df["contributor"].str.lower()
    return df.sort_values(["share_ppm", "_key"], ascending=[False, True]).drop(columns="_key").reset_index(drop=True)


# --- figures -------------------------------------------------------------------------------------


def contributor_shares(
    shares: Any,
    *,
    labels: Mapping[str, str] | None = None,
    colors: Mapping[str, str] | None = None,
    kind: str = "bar",
    title: str | None = "Contributor reward shares",
    intervals: Any = None,
) -> go.Figure:
    """Each contributor's reward share (percent; ppm on hover): a ranked bar chart or a donut.

    `shares`: `olab.rewards.Rewards`, a list of `Share`/dicts, `{address: share_ppm}` or a DataFrame.
    `intervals` (`olab.intervals.ShareIntervals`; default: the Rewards' own) draw each share's interval as a
    whisker on the bars.
    """
    intervals = intervals if intervals is not None else getattr(shares, "intervals", None)
    df = shares_frame(shares)
    fallback = contributor_colors(df["contributor"])
    names = [contributor_label(a, labels) for a in df["contributor"]]
    marker = [_color(colors, a, fallback) for a in df["contributor"]]
    custom = np.column_stack([df["contributor"], df["share_ppm"]])
    if kind == "donut":
        trace = go.Pie(
            labels=names,
            values=df["share_ppm"],
            hole=0.55,
            sort=False,
            marker={"colors": marker},
            textinfo="percent",
            hovertext=[f"{a}<br>{p} ppm" for a, p in zip(df["contributor"], df["share_ppm"], strict=True)],
            hoverinfo="text+percent",
        )
        return _style(go.Figure(trace), title, 420)
    if kind != "bar":
        raise ValidationError(f"contributor_shares kind must be 'bar' or 'donut', got {kind!r}")
    pct = df["share_ppm"] / 10_000
    trace = go.Bar(
        x=pct,
        y=names,
        orientation="h",
        marker={"color": marker},
        text=[f"{p:.2f}%" for p in pct],
        textposition="auto",
        customdata=custom,
        hovertemplate="%{customdata[0]}<br>%{customdata[1]} ppm (%{x:.3f}%)<extra></extra>",
    )
    if intervals is not None:
        bounds = [intervals.of(a) or (p, p) for a, p in zip(df["contributor"], df["share_ppm"], strict=True)]
        low, high = (np.array([b[i] for b in bounds]) / 10_000 for i in (0, 1))
        trace.update(  # the label sits inside the bar at its base, clear of the whisker around the bar's end
            textposition="inside",
            insidetextanchor="start",
            error_x={"type": "data", "array": np.maximum(high - pct, 0), "arrayminus": np.maximum(pct - low, 0)},
            customdata=np.column_stack([custom, low, high]),
            hovertemplate="%{customdata[0]}<br>%{customdata[1]} ppm (%{x:.3f}%)"
            f"<br>{intervals.level:.0%} interval %{{customdata[2]:.2f}}–%{{customdata[3]:.2f}}%<extra></extra>",
        )
    fig = go.Figure(trace)
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(title_text="share of rewards (%)", rangemode="tozero")
    compact = {"margin": {"t": 10, "b": 45}} if title is None else {}  # under a page heading: no room for a title
    return _style(fig, title, max(180, 30 * len(df) + 70), **compact)


def influence_distribution(
    records: Any,
    *,
    value: str = "influence",
    labels: Mapping[str, str] | None = None,
    colors: Mapping[str, str] | None = None,
    kind: str = "box",
    title: str | None = "Influence of each record, by contributor",
    value_title: str | None = None,
) -> go.Figure:
    """Per-record influence per contributor: one box, violin or strip trace per contributor.

    `records`: rows with `contributor` and the `value` column; `record_id` and `text` show on hover.
    Contributors are ordered by median influence, highest first.
    """
    if kind not in ("box", "violin", "strip"):
        raise ValidationError(f"influence_distribution kind must be 'box', 'violin' or 'strip', got {kind!r}")
    df = _frame(records, ["contributor", value], "influence_distribution")
    fallback = contributor_colors(df["contributor"])
    medians = df.groupby("contributor")[value].median()
    order = sorted(medians.index, key=lambda a: (-medians[a], str(a).lower()))
    fig = go.Figure()
    for a in order:
        part = df[df["contributor"] == a]
        hover = [
            f"record {rid}<br>{_hover_text(t)}"
            for rid, t in zip(part.get("record_id", part.index), part.get("text", [None] * len(part)), strict=True)
        ]
        common = {
            "y": part[value],
            "name": contributor_label(a, labels),
            "marker": {"color": _color(colors, a, fallback), "size": 5},
            "hovertext": hover,
            "hoverinfo": "y+text+name",
        }
        if kind == "violin":
            fig.add_trace(go.Violin(**common, box_visible=True, meanline_visible=True, points="outliers"))
        elif kind == "strip":
            fig.add_trace(
                go.Box(**common, boxpoints="all", jitter=0.5, pointpos=0, fillcolor="rgba(0,0,0,0)", line={"width": 0})
            )
        else:
            fig.add_trace(go.Box(**common, boxpoints="outliers"))
    fig.update_yaxes(title_text=value_title or value.replace("_", " "), zeroline=True)
    return _style(fig, title, 440, showlegend=False)


def top_records(
    scores: Any,
    *,
    k: int = 10,
    target: str | None = None,
    labels: Mapping[str, str] | None = None,
    colors: Mapping[str, str] | None = None,
    title: str | None = None,
) -> go.Figure:
    """The `k` strongest proponents (score > 0) and opponents (score < 0) of one target, coloured by contributor.

    `scores`: rows with `record_id`, `contributor`, `score` (influence on this target) and optionally
    `text`, e.g. one column of the attribution matrix joined with the Datanet's records. Hovering a
    bar shows the record's text.
    """
    df = _frame(scores, ["record_id", "contributor", "score"], "top_records")
    pro = df[df["score"] > 0].nlargest(k, "score")
    con = df[df["score"] < 0].nsmallest(k, "score")
    shown = pd.concat([pro, con.iloc[::-1]])
    shown = shown.assign(_y=[f"#{r}" for r in shown["record_id"]])
    fallback = contributor_colors(df["contributor"])
    fig = go.Figure()
    for a in dict.fromkeys(shown["contributor"]):  # first-seen order: strongest proponent's contributor first
        part = shown[shown["contributor"] == a]
        texts = part["text"] if "text" in part else [None] * len(part)
        fig.add_trace(
            go.Bar(
                x=part["score"],
                y=part["_y"],
                orientation="h",
                name=contributor_label(a, labels),
                marker={"color": _color(colors, a, fallback)},
                customdata=[[a, _hover_text(t)] for t in texts],
                hovertemplate="%{y} · %{customdata[0]}<br>score %{x:.4g}<br>%{customdata[1]}<extra></extra>",
            )
        )
    fig.update_yaxes(categoryorder="array", categoryarray=list(shown["_y"]), autorange="reversed", title_text="record")
    fig.update_xaxes(title_text="influence on the target (proponents > 0 > opponents)", zeroline=True)
    if title is None:
        title = "Top proponents and opponents"
        if target:
            title += ": " + html.escape(textwrap.shorten(" ".join(str(target).split()), 90, placeholder="…"))
    return _style(fig, title, max(300, 26 * len(shown) + 140), barmode="overlay", legend_title_text="contributor")


_SKIP_METRIC_SUFFIXES = ("_runtime", "_samples_per_second", "_steps_per_second")
_SKIP_METRICS = {"step", "epoch", "learning_rate", "lr", "grad_norm", "total_flos"}


def training_curve(history: Any, *, title: str | None = "Training") -> go.Figure:
    """One panel per metric, sharing the step axis: loss (train and eval) on top, then each evaluation metric.

    `history`: rows with `step` (or `epoch`) and metric columns, e.g. Hugging Face's
    `trainer.state.log_history`. Columns naming a loss share the loss panel; every other metric gets its
    own panel and axis (accuracies in percent); rows lacking a metric are skipped for it. Run-summary
    (`train_*`), speed and optimiser columns (learning rate, gradient norm) are not metrics and are left out.
    """
    df = _frame(history, [], "training_curve")
    x_col = "step" if "step" in df else "epoch" if "epoch" in df else None
    if x_col is None:
        df = df.assign(step=range(1, len(df) + 1))
        x_col = "step"
    metrics = [
        c
        for c in df.columns
        if c not in _SKIP_METRICS
        and not c.startswith("train_")
        and not c.endswith(_SKIP_METRIC_SUFFIXES)
        and pd.api.types.is_numeric_dtype(df[c])
    ]
    if not metrics:
        raise ValidationError(f"training_curve found no metric columns besides {x_col}; got {list(df.columns)}")
    losses = [c for c in metrics if "loss" in c]
    panels = ([losses] if losses else []) + [[c] for c in metrics if "loss" not in c]
    fig = make_subplots(rows=len(panels), cols=1, shared_xaxes=True, vertical_spacing=0.12)
    for row, panel in enumerate(panels, 1):
        for c in panel:
            part = df[[x_col, c]].dropna()
            percent = "accuracy" in c
            fig.add_trace(
                go.Scatter(
                    x=part[x_col],
                    y=part[c] * 100 if percent else part[c],
                    name="train loss" if c == "loss" else c.replace("_", " "),
                    mode="lines" if c == "loss" and len(part) > 20 else "lines+markers",
                ),
                row=row,
                col=1,
            )
        fig.update_yaxes(title_text=_metric_axis(panel), row=row, col=1)
    fig.update_xaxes(title_text="optimisation step" if x_col == "step" else "epoch", row=len(panels), col=1)
    return _style(fig, title, 200 + 170 * len(panels), legend={"orientation": "h", "y": 1.02, "yanchor": "bottom"})


def _metric_axis(panel: list[str]) -> str:
    if all("loss" in c for c in panel):
        return "loss (cross-entropy)"
    (c,) = panel
    name = c.removeprefix("eval_").replace("_", " ")
    return f"{name} (%)" if "accuracy" in c else name


def roc_curve(scores: Sequence[float], labels: Sequence[bool]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(false positive rate, true positive rate, thresholds), one point per distinct score, highest first.

    The points of the curve whose area is `olab.metrics.roc_auc` (ties make diagonal steps).
    """
    s, y = _scores_labels(scores, labels)
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]  # last index of each run of equal scores
    tps = np.cumsum(y)[last]
    fps = last + 1 - tps
    return np.r_[0.0, fps / fps[-1]], np.r_[0.0, tps / tps[-1]], np.r_[np.inf, s[last]]


def _scores_labels(scores: Sequence[float], labels: Sequence[bool]) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(scores, dtype=float)
    y = np.asarray(labels).astype(bool)
    if s.shape != y.shape or s.ndim != 1:
        raise ValidationError(f"scores and labels must be 1-D and equally long; got {s.shape} and {y.shape}")
    if not np.isfinite(s).all():
        raise ValidationError(f"scores must be finite; {int((~np.isfinite(s)).sum())} are NaN or infinite")
    n_pos = int(y.sum())
    if n_pos == 0 or n_pos == len(y):
        raise ValidationError(f"ROC needs both positive and negative examples; got {n_pos} positive of {len(y)}")
    return s, y


def self_influence_roc(
    scores: Sequence[float],
    flipped: Sequence[bool],
    *,
    title: str | None = None,
    what: str = "flipped labels",
    method: str = "self-influence",
) -> go.Figure:
    """ROC of ranking records by `scores` (self-influence, or another `method` of `olab.detection`) against ground
    truth (e.g. labels known to be flipped).

    The title carries the AUC: the chance that a flipped record scores higher than a clean one.
    """
    fpr, tpr, thr = roc_curve(scores, flipped)
    auc = roc_auc(scores, flipped)
    n_pos = int(np.asarray(flipped).astype(bool).sum())
    fig = go.Figure(
        [
            go.Scatter(
                x=[0, 1], y=[0, 1], mode="lines", name="chance", line={"dash": "dot", "color": "#999"}, hoverinfo="skip"
            ),
            go.Scatter(
                x=fpr,
                y=tpr,
                mode="lines",
                name=f"{method} (AUC {auc:.3f})",
                line={"color": PALETTE[0], "width": 3, "shape": "hv"},
                customdata=thr,
                hovertemplate="threshold %{customdata:.4g}<br>FPR %{x:.3f}, TPR %{y:.3f}<extra></extra>",
            ),
        ]
    )
    fig.update_xaxes(title_text="false positive rate", range=[0, 1], constrain="domain")
    fig.update_yaxes(title_text=f"true positive rate ({n_pos} {what})", range=[0, 1.02], scaleanchor="x")
    return _style(
        fig,
        title or f"{method[:1].upper()}{method[1:]} finds {what}: ROC AUC = {auc:.3f}",
        440,
        legend={"x": 0.55, "y": 0.08},
    )


def leaderboard_table(
    table: Any,
    *,
    labels: Mapping[str, str] | None = None,
    sort_by: str | None = None,
    columns: Sequence[str] | None = None,
    title: str | None = "Contributor leaderboard",
) -> go.Figure:
    """A ranked table of contributors: rank, contributor (label and short address), then numeric columns.

    `table`: rows with `contributor` (the attribution contributor table, optionally merged with
    `share_ppm`). Sorted by `sort_by` (default `share_ppm`, else `positive`, else the first numeric
    column), largest first. A `share_ppm` column is also shown as a percentage.
    """
    df = _frame(table, ["contributor"], "leaderboard_table")
    numeric = [c for c in df.columns if c != "contributor" and pd.api.types.is_numeric_dtype(df[c])]
    cols = list(columns) if columns is not None else numeric
    key = sort_by or next((c for c in ("share_ppm", "positive") if c in df), numeric[0] if numeric else None)
    if key is not None:
        df = df.sort_values(key, ascending=False, kind="mergesort")
    header = ["#", "contributor", *[c.replace("_", " ") for c in cols]]
    values: list[list[Any]] = [
        list(range(1, len(df) + 1)),
        [contributor_label(a, labels) for a in df["contributor"]],
    ]
    for c in cols:
        values.append([_fmt(v) for v in df[c]])
    if "share_ppm" in df and columns is None:
        header.insert(2, "share %")
        values.insert(2, [f"{v / 10_000:.2f}" for v in df["share_ppm"]])
    fig = go.Figure(
        go.Table(
            header={"values": [f"<b>{h}</b>" for h in header], "fill_color": "#f0f2f5", "align": "left"},
            cells={"values": values, "align": "left", "height": 26},
        )
    )
    return _style(fig, title, 32 * len(df) + 130, margin={"l": 10, "r": 10, "t": 50, "b": 10})


def _fmt(v: Any) -> str:
    if isinstance(v, bool | np.bool_):
        return str(bool(v))
    if isinstance(v, int | np.integer):
        return str(int(v))
    if isinstance(v, float | np.floating):
        return "" if math.isnan(v) else f"{v:.4g}"
    return html.escape(str(v))


def gas_or_timings(
    values: Mapping[str, float],
    *,
    unit: str = "s",
    title: str | None = "Stage timings",
) -> go.Figure:
    """A horizontal bar per named quantity, in the given order: stage wall times (s) or gas per transaction."""
    if not values:
        raise ValidationError("gas_or_timings needs at least one named value")
    names = list(values)
    nums = [float(values[n]) for n in names]
    fig = go.Figure(
        go.Bar(
            x=nums,
            y=names,
            orientation="h",
            marker={"color": PALETTE[0]},
            text=[_fmt_amount(v, unit) for v in nums],
            textposition="auto",
            hovertemplate="%{y}: %{x:,.3f} " + unit + "<extra></extra>",
        )
    )
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(title_text="wall-clock time (s)" if unit == "s" else unit, rangemode="tozero")
    return _style(fig, title, max(240, 32 * len(names) + 110))


USAGE_PARTS = {"claimed": ("claimed", POSITIVE), "unclaimed": ("settled, not claimed", PALETTE[0]),
               "pending": ("earned since the last epoch", "#BAB0AC")}  # fmt: skip


def usage_rewards(
    usage: Any, *, labels: Mapping[str, str] | None = None, title: str | None = "Usage rewards per contributor"
) -> go.Figure:
    """What each address has earned from served answers (token units), one stacked bar each: claimed, settled but not
    claimed, and earned since the last epoch. `usage`: rows or a DataFrame with address, pending, settled, claimed
    (`olab.serve.session.ServeSession.usage()`)."""
    df = _frame(usage, ["address", "pending", "settled", "claimed"], "usage rewards")
    parts = {"claimed": df["claimed"], "unclaimed": df["settled"] - df["claimed"], "pending": df["pending"]}
    names = [contributor_label(a, labels) for a in df["address"]]
    fig = go.Figure([
        go.Bar(x=values, y=names, orientation="h", name=USAGE_PARTS[part][0], marker={"color": USAGE_PARTS[part][1]},
               customdata=df["address"], hovertemplate="%{customdata}<br>%{x:,.1f} tokens<extra>" + part + "</extra>")
        for part, values in parts.items()
    ])  # fmt: skip
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(title_text="test-token units", rangemode="tozero")
    fig.update_layout(barmode="stack", legend={"orientation": "h", "y": -0.25})
    return _style(fig, title, max(220, 30 * len(df) + 130))


def _fmt_amount(v: float, unit: str) -> str:
    if unit != "s":
        return f"{v:,.0f} {unit}"
    return f"{v:,.1f} s" if abs(v) >= 1 else f"{v:.2g} s"


__all__ = [
    "PALETTE",
    "TEMPLATE",
    "contributor_colors",
    "contributor_label",
    "contributor_shares",
    "gas_or_timings",
    "influence_distribution",
    "leaderboard_table",
    "roc_curve",
    "self_influence_roc",
    "shares_frame",
    "short_address",
    "top_records",
    "training_curve",
    "usage_rewards",
]
