"""`report.html`: one self-contained HTML file a person can open offline and read.

It leads with the answer (a summary in sentences, the reward shares, the full leaderboard), then the
views, and keeps the provenance (hashes, contracts, transactions) last and collapsed. plotly.js (its
cartesian bundle, `olab/assets/`) is inlined once, gzipped, and unpacked by the browser; each figure
is a `<div>` plus its JSON. Tables are plain HTML, every row shown. The output depends only on its
inputs (fixed figure ids, no timestamps), so the same run gives the same bytes. `build_report` lays
out any sections; `run_report` lays out what a run produced.
"""

from __future__ import annotations

import base64
import html
import json
import re
from collections.abc import Mapping, Sequence
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio

from olab import viz
from olab.detection import DEFAULT, describe
from olab.errors import ValidationError
from olab.intervals import share_text
from olab.io import atomic_write_text
from olab.metrics import roc_auc
from olab.names import name_of, short_address
from olab.rewards import POOL_REMAINDER

if TYPE_CHECKING:
    from olab.pipeline.manifest import Manifest

MAX_TABLE_ROWS = 200
PLOTLY_BUNDLE = "plotly-cartesian.min.js.gz"
_HEX = re.compile(r"^(0x[0-9a-fA-F]{16,}|sha256:[0-9a-f]{16,})$")
_PLOTLY_CONFIG = {"displaylogo": False, "responsive": True}

CSS = """
body { font-family: Inter, -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif; color: #222;
       max-width: 1100px; margin: 0 auto; padding: 16px 28px 60px; line-height: 1.45; }
h1 { font-size: 24px; margin: 0 0 2px; } h2 { font-size: 18px; margin: 20px 0 4px; border-bottom: 1px solid #e4e6ea; }
header p { margin: 0; color: #555; font-size: 14px; }
nav { font-size: 13px; color: #555; margin: 6px 0 0; } nav a { color: #2a5db0; text-decoration: none; margin-right: 12px; }
ul.summary { margin: 4px 0 0; padding-left: 20px; font-size: 15px; } ul.summary li { margin: 2px 0; }
.caption { color: #555; font-size: 14px; margin: 4px 0 0; }
.figure { min-height: 60px; } .figure:empty::before { content: "loading figure…"; color: #999; font-size: 13px; }
table.data, table.kv { border-collapse: collapse; font-size: 13px; margin: 6px 0; }
table.data { width: 100%; }
table.data th, table.data td, table.kv th, table.kv td { border-bottom: 1px solid #eceef1; padding: 3px 10px;
       text-align: left; vertical-align: top; }
table.data th { background: #f5f6f8; } table.data td.num, table.data th.num { text-align: right; white-space: nowrap; }
table.kv th { color: #555; font-weight: 600; white-space: nowrap; } table.kv table.kv { margin: 0; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px; word-break: break-all; }
details > summary { cursor: pointer; color: #2a5db0; font-size: 15px; margin: 26px 0 6px; }
.more { color: #777; font-size: 13px; }
"""

# Unpacks the inlined plotly.js, then draws every figure from its JSON (browsers since 2023 have DecompressionStream).
LOADER = """
(async () => {
  const packed = document.getElementById("olab-plotly").textContent;
  const bytes = Uint8Array.from(atob(packed), (c) => c.charCodeAt(0));
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
  const code = document.createElement("script");
  code.textContent = await new Response(stream).text();
  document.head.appendChild(code);
  const config = %s;
  for (const spec of document.querySelectorAll("script.olab-figure")) {
    const figure = JSON.parse(spec.textContent);
    await Plotly.newPlot(spec.dataset.target, figure.data, figure.layout, config);
  }
  document.body.dataset.figures = "drawn";
})();
"""


class Link(NamedTuple):
    """A provenance value shown as a link (an explorer page for a transaction or contract)."""

    text: str
    href: str


Content = go.Figure | pd.DataFrame | Sequence[Mapping[str, Any]] | str


@cache
def plotly_bundle() -> str:
    """The gzipped plotly.js bundle, base64-encoded for inlining."""
    data = resources.files("olab").joinpath("assets", PLOTLY_BUNDLE).read_bytes()
    return base64.b64encode(data).decode()


def build_report(
    path: str | Path,
    *,
    title: str,
    intro: str | None = None,
    summary: Sequence[str] = (),
    sections: Sequence[tuple[str, Content, str]] = (),
    provenance: Mapping[str, Any] | None = None,
) -> Path:
    """Write a self-contained HTML report atomically and return its path.

    `summary`: sentences shown first. `sections`: (heading, content, caption) in page order, where content
    is a plotly figure, a table (DataFrame or list of dicts; the first 200 rows, numeric columns right-
    aligned) or plain text. `provenance`: key -> value shown last, collapsed (nested mappings nest; `Link`s
    and http(s) URLs become links; hashes and addresses are set in monospace).
    """
    parts: list[str] = []
    toc: list[str] = []
    if summary:
        toc.append('<a href="#summary">Summary</a>')
        items = "".join(f"<li>{html.escape(s)}</li>" for s in summary)
        parts.append(f'<section id="summary"><h2>Summary</h2><ul class="summary">{items}</ul></section>')
    for i, (heading, content, caption) in enumerate(sections, 1):
        anchor = f"section-{i}"
        toc.append(f'<a href="#{anchor}">{html.escape(heading)}</a>')
        cap = f'<p class="caption">{html.escape(caption)}</p>' if caption else ""
        parts.append(f'<section id="{anchor}"><h2>{html.escape(heading)}</h2>{_render(content, i)}{cap}</section>')
    if provenance:
        toc.append('<a href="#provenance">Provenance</a>')
        parts.append(
            '<section id="provenance"><details><summary>Provenance: the hashes, contracts and transactions '
            f"that make this run checkable</summary>{_kv_table(provenance)}</details></section>"
        )
    intro_html = f"<p>{html.escape(intro)}</p>" if intro else ""
    page = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="olab">
<title>{html.escape(title)}</title>
<style>{CSS}</style>
</head>
<body>
<header><h1>{html.escape(title)}</h1>{intro_html}<nav>{"".join(toc)}</nav></header>
{"".join(parts)}
<script id="olab-plotly" type="application/gzip;base64">{plotly_bundle()}</script>
<script>{LOADER % json.dumps(_PLOTLY_CONFIG)}</script>
</body>
</html>
"""
    return atomic_write_text(path, page)


def _render(content: Content, index: int) -> str:
    if isinstance(content, go.Figure):
        spec = pio.to_json(content, validate=False).replace("</", "<\\/")  # no `</script>` inside the JSON
        div = f"olab-figure-{index}"
        return f'<div class="figure" id="{div}"></div><script type="application/json" class="olab-figure" data-target="{div}">{spec}</script>'
    if isinstance(content, str):
        return "".join(f"<p>{html.escape(p)}</p>" for p in content.split("\n\n"))
    if isinstance(content, pd.DataFrame):
        return _data_table(content)
    if isinstance(content, Sequence):
        return _data_table(pd.DataFrame(list(content)))
    raise ValidationError(
        f"report section {index}: content must be a plotly Figure, a DataFrame, a list of dicts or text, "
        f"got {type(content).__name__}"
    )


def _data_table(df: pd.DataFrame) -> str:
    numeric = [pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c]) for c in df.columns]
    cls = ['class="num"' if n else "" for n in numeric]
    head = "".join(f"<th {c}>{html.escape(str(name))}</th>" for c, name in zip(cls, df.columns, strict=True))
    rows = [
        "<tr>" + "".join(f"<td {c}>{_value(v)}</td>" for c, v in zip(cls, row, strict=True)) + "</tr>"
        for row in df.head(MAX_TABLE_ROWS).itertuples(index=False)
    ]
    more = f'<p class="more">first {MAX_TABLE_ROWS} of {len(df)} rows</p>' if len(df) > MAX_TABLE_ROWS else ""
    return f'<table class="data"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>{more}'


def _kv_table(data: Mapping[str, Any]) -> str:
    rows = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{_value(v)}</td></tr>" for k, v in data.items())
    return f'<table class="kv">{rows}</table>'


def _value(v: Any) -> str:
    if isinstance(v, Link):
        return f'<a href="{html.escape(v.href, quote=True)}"><code>{html.escape(v.text)}</code></a>'
    if isinstance(v, Mapping):
        return _kv_table(v) if v else "—"
    if isinstance(v, list | tuple):
        return ", ".join(_value(x) for x in v) if v else "—"
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:.4g}"
    s = str(v)
    if s.startswith(("http://", "https://")):
        return f'<a href="{html.escape(s, quote=True)}">{html.escape(s)}</a>'
    return f"<code>{html.escape(s)}</code>" if _HEX.match(s) else html.escape(s)


def sentence(text: str) -> str:
    """`text` ending in exactly one full stop (a caption built from data may already end in one)."""
    text = text.rstrip()
    return text if text.endswith((".", "!", "?", "…")) else text + "."


# --- the run report ------------------------------------------------------------------------------


def run_report(
    path: str | Path,
    *,
    manifest: Manifest,
    rewards: Any,
    contributors: pd.DataFrame | None = None,
    records: pd.DataFrame | None = None,
    targets: Sequence[Mapping[str, Any]] = (),
    training: Any = None,
    timings: Mapping[str, float] | None = None,
    labels: Mapping[str, str] | None = None,
    top_k: int = 8,
) -> Path:
    """Lay out a run's report: summary (sentences, shares, leaderboard), views, provenance.

    - `manifest`: the run's typed manifest (`olab.Run.manifest`); its `config` is left out of the page. With
      `chain.explorer_url`, transaction hashes (any 0x-hex value under `chain` whose key names a
      tx/transaction) and contract addresses link to it.
    - `rewards`: `olab.rewards.Rewards` (its `names` name contributors) or `{address: share_ppm}`. The pool's
      rounding leaf (`POOL_REMAINDER`) is no contributor: a line under the leaderboard says what stays in the pool.
    - `contributors`: the attribution contributor table (`contributor`, `positive`, `negative`,
      `total`, ...; `olab.Run.contributors` adds `harm_ppm`, `net_ppm`, `near_copies`, `copied_from`); a
      `name`, `label` or `behaviour` column names contributors. With `net_ppm` the summary and the leaderboard
      rank by net payout (share minus the harm owed from stake); the other signals go to a second table.
    - `records`: one row per training record: `record_id`, `contributor`, and any of `influence`
      (its total influence on the targets), `self_influence`, `flipped` (bool ground truth), `text`.
    - `targets`: sample targets, each `{"text": ..., "label": ..., "scores": rows with record_id,
      contributor, score, text}` (the target's column of the score matrix joined with the records).
    - `training`: rows with `step` and metrics (e.g. `loss`, `eval_accuracy`); `timings`: stage -> s
      (default: the manifest's).
    - `labels`: {address: display name}, overriding the names above.
    """
    names = {**getattr(rewards, "names", {}), **_names_from(contributors), **(labels or {})}
    everything = viz.shares_frame(rewards)
    in_pool = everything["contributor"].str.lower() == POOL_REMAINDER
    kept, shares = int(everything.loc[in_pool, "share_ppm"].sum()), everything[~in_pool].reset_index(drop=True)
    ranked = ranking(shares, contributors)
    everyone = list(shares["contributor"])
    if contributors is not None:
        everyone += list(contributors["contributor"])
    colors = viz.contributor_colors(everyone)
    style = {"labels": names, "colors": colors}
    policy = getattr(rewards, "policy", None) or manifest.rewards.policy
    flipped = _flipped(records)
    column, method = _detector(records, manifest)
    auc = roc_auc(records[column], flipped) if flipped is not None else None

    sections: list[tuple[str, Content, str]] = [
        (
            "Reward shares",
            viz.contributor_shares(shares, title=None, intervals=getattr(rewards, "intervals", None), **style),
            f"Percent of the rewards under policy {policy}; each share is provable against the reward root "
            "(see Provenance)."
            + (
                f" Whiskers: each share's {rewards.intervals.level:.0%} interval when the {rewards.intervals.resampled} "
                "are drawn again (bootstrap); models trained with other seeds are not in it."
                if getattr(rewards, "intervals", None) is not None
                else ""
            ),
        ),
        (
            "Leaderboard",
            leaderboard(shares, contributors, names, getattr(rewards, "intervals", None)),
            _leaderboard_caption(ranked, kept),
        ),
    ]
    breakdown = payout_breakdown(shares, contributors, names)
    if breakdown is not None:
        sections.append(("Behind each payout", breakdown, _breakdown_caption(breakdown)))
    if records is not None and "influence" in records:
        sections.append(
            (
                "Influence of each record, by contributor",
                viz.influence_distribution(
                    records, value="influence", title=None, value_title="influence on the targets (TRAK score)", **style
                ),
                "Each point is a training record; its influence summed over the targets. "
                "Helpful data sits above zero, harmful data below.",
            )
        )
    for t in targets:
        target_text = " ".join(str(t.get("text", "")).split())
        heading = "Proponents and opponents"
        if "label" in t:
            heading += f" of a target labelled {t['label']}"
        sections.append(
            (
                heading,
                viz.top_records(t["scores"], k=top_k, target=target_text, **style),
                f"{sentence('Target: ' + target_text[:300])} Bars right of zero are training records that pushed "
                "the model toward this target's label, left of zero away from it; hover for the record's text.",
            )
        )
    if training is not None and len(training):
        sections.append(
            (
                "Training",
                viz.training_curve(training, title=None),
                "Training loss per optimisation step and the evaluation metrics on the targets, one per panel.",
            )
        )
    if auc is not None:
        sections.append(
            (
                "Finding flipped labels",
                viz.self_influence_roc(records[column], flipped, method=method),
                f"Ground truth from the simulated contributors: {int(flipped.sum())} of {len(flipped)} records "
                f"have flipped labels. Ranking records by {method} (run.detector) finds them with ROC AUC "
                f"{auc:.3f} (1.0: every flipped record ranks above every clean one; 0.5: chance).",
            )
        )
        sections.append(
            (
                "Self-influence by contributor",
                viz.influence_distribution(
                    records, value="self_influence", title=None, value_title="self-influence (TRAK score)", **style
                ),
                "Mislabelled records are hard to fit, so they tend to have high self-influence.",
            )
        )
    timings = timings if timings is not None else manifest.timings
    if timings:
        sections.append(
            ("Stage timings", viz.gas_or_timings(timings, title=None), "Wall-clock seconds per pipeline stage.")
        )

    return build_report(
        path,
        title=f"olab run {manifest.name}".strip(),
        intro=f"Run {manifest.run_id[:18]}… · check every link of it from its files and the chain with: "
        "olab verify <this run's directory>",
        summary=summary_sentences(ranked, names, records, flipped, auc, training, manifest.targets.count, method),
        sections=sections,
        provenance=_provenance(manifest),
    )


def summary_sentences(
    ranked: pd.DataFrame,
    names: Mapping[str, str],
    records: pd.DataFrame | None,
    flipped: pd.Series | None,
    auc: float | None,
    training: Any,
    target_count: int | None = None,
    method: str = "self-influence",
) -> list[str]:
    """The answer in words: who is paid what, how well harmful data was found, how good the model is.

    `ranked`: `ranking(...)`, the contributors in payout order (by net payout when it has `net_ppm`)."""

    def who(address: str) -> str:
        return name_of(names, address)

    def pct(ppm: int) -> str:
        return f"{ppm / 10_000:.1f} %"

    paid = "net_ppm" if "net_ppm" in ranked else "share_ppm"
    what = "net payout" if paid == "net_ppm" else "share"
    top, bottom = ranked.iloc[0], ranked.iloc[-1]
    out = [
        f"{len(ranked)} contributors share the rewards: the largest {what}, {pct(top[paid])}, goes to "
        f"{who(top.contributor)}; the smallest, {pct(bottom[paid])}, to {who(bottom.contributor)}"
        + (" (net payout: the share minus what harmful records owe from their stake)." if what != "share" else ".")
    ]
    if flipped is not None and auc is not None:
        holders = records.loc[flipped.to_numpy(), "contributor"].value_counts()
        rank = {a.lower(): i + 1 for i, a in enumerate(ranked["contributor"])}
        value = {a.lower(): p for a, p in zip(ranked["contributor"], ranked[paid], strict=True)}
        owners = "; ".join(
            f"{n} from {who(a)}, whose {what}, {pct(value.get(str(a).lower(), 0))}, ranks "
            f"{rank.get(str(a).lower(), '—')} of {len(ranked)}"
            for a, n in holders.items()
        )
        out.append(
            f"{int(flipped.sum())} of {len(flipped)} training records have flipped labels (the simulation's ground "
            f"truth): {owners}. Ranking records by {method} finds them with ROC AUC {auc:.3f} "
            "(1.0: all of them first; 0.5: chance)."
        )
    quality = _model_quality(training, target_count)
    if quality:
        out.append(quality)
    return out


def _model_quality(training: Any, target_count: int | None) -> str | None:
    """The last evaluation's accuracy (and loss) on the targets, as a sentence."""
    if training is None or not len(training):
        return None
    df = pd.DataFrame(list(training)) if not isinstance(training, pd.DataFrame) else training
    if "eval_accuracy" not in df or df["eval_accuracy"].dropna().empty:
        return None
    last = df.dropna(subset=["eval_accuracy"]).iloc[-1]
    on = f"the {target_count} held-out targets" if target_count else "the held-out targets"
    loss = f" (loss {last['eval_loss']:.3f})" if "eval_loss" in df and pd.notna(last.get("eval_loss")) else ""
    step = f" after {int(last['step'])} steps" if "step" in df and pd.notna(last.get("step")) else ""
    return f"The fine-tuned model classifies {on} with accuracy {last['eval_accuracy'] * 100:.1f} %{loss}{step}."


def ranking(shares: pd.DataFrame, contributors: pd.DataFrame | None) -> pd.DataFrame:
    """Every share holder (contributors without a share too), in payout order: by net payout (`net_ppm`, share
    minus harm owed; a holder the contributor table lacks, such as a fee split's developer, nets its share) when
    the contributor table has it, else by share; ties by address, as rewards rank them."""
    table = shares if contributors is None else _with_shares(contributors, shares)
    if "net_ppm" in table:
        table = table.assign(net_ppm=table["net_ppm"].fillna(table["share_ppm"]).astype(int))
    key = "net_ppm" if "net_ppm" in table else "share_ppm"
    order = table.assign(_key=table["contributor"].str.lower())
    return order.sort_values([key, "_key"], ascending=[False, True]).drop(columns="_key").reset_index(drop=True)


def leaderboard(
    shares: pd.DataFrame, contributors: pd.DataFrame | None, names: Mapping[str, str], intervals: Any = None
) -> pd.DataFrame:
    """Who is paid what, one row per share holder in payout order (`ranking`): name (a simulated contributor's
    name carries its behaviour), short address, share (with its interval when `intervals`, an
    `olab.intervals.ShareIntervals`, gives one), and net payout when the contributor table has it."""
    table = ranking(shares, contributors)
    out = pd.DataFrame(
        {
            "#": range(1, len(table) + 1),
            "contributor": [name_of(names, a) for a in table["contributor"]],
            "address": [short_address(a) for a in table["contributor"]],
            **_share_column(table, intervals),
            "share (ppm)": table["share_ppm"].astype(int).to_numpy(),
        }
    )
    if "net_ppm" in table:
        out["net payout (%)"] = (table["net_ppm"] / 10_000).round(2).to_numpy()
        out["net payout (ppm)"] = table["net_ppm"].to_numpy()
    return out


def _share_column(table: pd.DataFrame, intervals: Any) -> dict[str, Any]:
    """The leaderboard's share column: percent, or "12.40 % [10.90, 13.80]" with each share's interval."""
    if intervals is None:
        return {"share (%)": (table["share_ppm"] / 10_000).round(2).to_numpy()}
    cells = zip(table["contributor"], table["share_ppm"], strict=True)
    return {f"share [{intervals.level:.0%} interval]": [share_text(int(p), intervals.of(a)) for a, p in cells]}


# the signals behind each payout (`olab.Run.contributors`): contributor-table column -> heading
SIGNALS = {
    "records": "records",
    "positive": "helpful influence",
    "negative": "harmful influence",
    "total": "net influence",
    "harm_ppm": "harm owed from stake (ppm)",
    "near_copies": "near-copies flagged",
    "copied_from": "copies of",
    "stake_owed": "stake owed (tokens)",
    "stake_slashed": "stake slashed (tokens)",
}
COUNTS = ("records", "harm_ppm", "near_copies", "stake_owed", "stake_slashed")  # integers, 0 for other holders


def payout_breakdown(
    shares: pd.DataFrame, contributors: pd.DataFrame | None, names: Mapping[str, str]
) -> pd.DataFrame | None:
    """The signals behind each payout (records, influence, harm owed, near-copies), one row per share holder
    in the leaderboard's order; None without a contributor table that has any."""
    if contributors is None or not set(SIGNALS) & set(contributors.columns):
        return None
    table = ranking(shares, contributors)
    out = pd.DataFrame({"contributor": [name_of(names, a) for a in table["contributor"]]})
    for col, heading in SIGNALS.items():
        if col in table:
            values = table[col]
            if col in COUNTS:  # share holders outside the table hold no records
                values = values.fillna(0).astype(int)
            out[heading] = values.fillna("").to_numpy() if col == "copied_from" else values.to_numpy()
    return out


def _leaderboard_caption(ranked: pd.DataFrame, kept: int) -> str:
    parts = []
    if "net_ppm" in ranked:
        parts.append(
            "Net payout is the share of the pool minus what the contributor's harmful records owe from their stake."
        )
    if kept:
        parts.append(
            f"Rounding: {kept} ppm nobody is owed stay in the pool (the unclaimable leaf "
            f"{short_address(POOL_REMAINDER)})."
        )
    return " ".join(parts)


def _breakdown_caption(breakdown: pd.DataFrame) -> str:
    parts = ["Influence is each record's TRAK score summed over the targets, then over the contributor's records."]
    if SIGNALS["harm_ppm"] in breakdown:
        parts.append("Harmful records owe from their stake what their harm would have earned.")
    if SIGNALS["near_copies"] in breakdown:
        parts.append(
            "Records flagged as near-copies earn nothing themselves; their credit goes to the records they copy."
        )
    if SIGNALS["stake_slashed"] in breakdown:
        parts.append(
            "Stake owed: what those harmful records owe from their deposits under the run's rule; slashed: what "
            "settling the run on chain took into the pool (never more than the contributor staked)."
        )
    return " ".join(parts)


def _with_shares(contributors: pd.DataFrame, shares: pd.DataFrame) -> pd.DataFrame:
    """The contributor table with a `share_ppm` column, plus rows for share holders it lacks (a fee split's
    developer and stakers); addresses match case-insensitively."""
    ppm = {a.lower(): p for a, p in zip(shares["contributor"], shares["share_ppm"], strict=True)}
    table = contributors.assign(share_ppm=[ppm.pop(str(a).lower(), 0) for a in contributors["contributor"]])
    extra = shares[shares["contributor"].str.lower().isin(ppm)]
    return pd.concat([table, extra], ignore_index=True) if len(extra) else table


def _names_from(contributors: pd.DataFrame | None) -> dict[str, str]:
    if contributors is None:
        return {}
    for col in ("name", "label", "behaviour"):
        if col in contributors:
            return {str(a): str(v) for a, v in zip(contributors["contributor"], contributors[col], strict=True)}
    return {}


def _detector(records: pd.DataFrame | None, manifest: Manifest) -> tuple[str, str]:
    """(records' column, its name) that ranks records as likely harmful: `harm_score` under the run's
    `run.detector` (`olab.detection`) when the records have it, else their self-influence."""
    if records is not None and "harm_score" in records:
        return "harm_score", describe((manifest.config.get("run") or {}).get("detector", DEFAULT))
    return "self_influence", "self-influence"


def _flipped(records: pd.DataFrame | None) -> pd.Series | None:
    """The ground-truth flags when records have self-influence and some but not all are flipped."""
    if records is None or not {"self_influence", "flipped"} <= set(records.columns):
        return None
    flipped = records["flipped"].fillna(False).astype(bool)
    return flipped if 0 < flipped.sum() < len(flipped) else None


def _provenance(manifest: Manifest) -> dict[str, Any]:
    """The manifest without its (long) resolved config, timings and date; chain hashes turned into explorer links."""
    out = manifest.model_dump(mode="json", exclude={"config", "timings", "created_at"})
    explorer = getattr(manifest.chain, "explorer_url", None)  # an extra a published run's chain record may carry
    if explorer:
        out["chain"] = _link_chain(out["chain"], str(explorer).rstrip("/"), "")
    return out


def _link_chain(node: Any, explorer: str, key: str) -> Any:
    if isinstance(node, Mapping):
        return {k: _link_chain(v, explorer, f"{key}.{k}".lower()) for k, v in node.items()}
    if isinstance(node, list):
        return [_link_chain(v, explorer, key) for v in node]
    if isinstance(node, str) and re.fullmatch(r"0x[0-9a-fA-F]{64}", node) and ("tx" in key or "transaction" in key):
        return Link(node, f"{explorer}/tx/{node}")
    if isinstance(node, str) and re.fullmatch(r"0x[0-9a-fA-F]{40}", node):
        return Link(node, f"{explorer}/address/{node}")
    return node


__all__ = ["Link", "build_report", "leaderboard", "payout_breakdown", "ranking", "run_report", "sentence"]
