"""`report.html`: one self-contained HTML file a person can open offline and read.

plotly.js is inlined once in the page head (no CDN, no network), each figure is a `<div>` drawn by
it, tables are plain HTML. The output depends only on its inputs (fixed figure ids, no timestamps),
so the same run gives the same bytes. `build_report` lays out any sections; `run_report` lays out
what a run produced.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import pandas as pd
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from olab import viz
from olab.errors import ValidationError
from olab.io import atomic_write_text
from olab.metrics import roc_auc

MAX_TABLE_ROWS = 200
_HEX = re.compile(r"^(0x[0-9a-fA-F]{16,}|sha256:[0-9a-f]{16,})$")
_PLOTLY_CONFIG = {"displaylogo": False, "responsive": True}

CSS = """
body { font-family: Inter, -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif; color: #222;
       max-width: 1100px; margin: 0 auto; padding: 24px 28px 60px; line-height: 1.45; }
h1 { font-size: 26px; margin: 0 0 4px; } h2 { font-size: 19px; margin: 36px 0 8px; border-bottom: 1px solid #e4e6ea; }
nav ol { columns: 2; padding-left: 20px; color: #555; } nav a { color: #2a5db0; text-decoration: none; }
.caption { color: #555; font-size: 14px; margin: 4px 0 0; }
table.data, table.kv { border-collapse: collapse; font-size: 13px; margin: 6px 0; }
table.data th, table.data td, table.kv th, table.kv td { border-bottom: 1px solid #eceef1; padding: 4px 10px;
       text-align: left; vertical-align: top; }
table.kv th { color: #555; font-weight: 600; white-space: nowrap; } table.kv table.kv { margin: 0; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px; word-break: break-all; }
.more { color: #777; font-size: 13px; }
"""


class Link(NamedTuple):
    """A summary value shown as a link (an explorer page for a transaction or contract)."""

    text: str
    href: str


Content = go.Figure | pd.DataFrame | Sequence[Mapping[str, Any]] | str


def build_report(
    path: str | Path,
    *,
    title: str,
    summary: Mapping[str, Any] | None = None,
    sections: Sequence[tuple[str, Content, str]] = (),
    intro: str | None = None,
) -> Path:
    """Write a self-contained HTML report atomically and return its path.

    `summary`: key -> value shown first as a table (nested mappings nest; `Link`s and http(s) URLs
    become links; hashes and addresses are set in monospace). `sections`: (heading, content,
    caption) in page order, where content is a plotly figure, a table (DataFrame or list of dicts;
    the first 200 rows) or plain text.
    """
    parts: list[str] = []
    toc: list[str] = []
    if summary:
        toc.append('<li><a href="#summary">Summary</a></li>')
        parts.append(f'<section id="summary"><h2>Summary</h2>{_kv_table(summary)}</section>')
    for i, (heading, content, caption) in enumerate(sections, 1):
        anchor = f"section-{i}"
        toc.append(f'<li><a href="#{anchor}">{html.escape(heading)}</a></li>')
        cap = f'<p class="caption">{html.escape(caption)}</p>' if caption else ""
        parts.append(f'<section id="{anchor}"><h2>{html.escape(heading)}</h2>{_render(content, i)}{cap}</section>')
    page = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="olab">
<title>{html.escape(title)}</title>
<style>{CSS}</style>
<script type="text/javascript">{get_plotlyjs()}</script>
</head>
<body>
<header><h1>{html.escape(title)}</h1>{f"<p>{html.escape(intro)}</p>" if intro else ""}</header>
<nav><ol>{"".join(toc)}</ol></nav>
{"".join(parts)}
</body>
</html>
"""
    return atomic_write_text(path, page)


def _render(content: Content, index: int) -> str:
    if isinstance(content, go.Figure):
        return content.to_html(
            full_html=False, include_plotlyjs=False, div_id=f"olab-figure-{index}", config=_PLOTLY_CONFIG
        )
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
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    rows = [
        "<tr>" + "".join(f"<td>{_value(v)}</td>" for v in row) + "</tr>"
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


# --- the run report ------------------------------------------------------------------------------


def run_report(
    path: str | Path,
    *,
    manifest: Mapping[str, Any],
    rewards: Any,
    contributors: pd.DataFrame | None = None,
    records: pd.DataFrame | None = None,
    targets: Sequence[Mapping[str, Any]] = (),
    training: Any = None,
    timings: Mapping[str, float] | None = None,
    labels: Mapping[str, str] | None = None,
    top_k: int = 8,
) -> Path:
    """Lay out a run's report: summary, shares, leaderboard, influence, proponents/opponents, training, ground truth.

    - `manifest`: the run manifest (`run_id`, `datanet`, `adapter`, `attribution`, `rewards`, `chain`,
      ...); `config` is left out of the page. With `chain.explorer_url`, transaction hashes (any
      0x-hex value under `chain` whose key names a tx/transaction) and contract addresses link to it.
    - `rewards`: `olab.rewards.Rewards` or `{address: share_ppm}`.
    - `contributors`: the attribution contributor table (`contributor`, `positive`, `negative`,
      `total`, ...); a `label`, `name` or `behaviour` column names contributors in the figures.
    - `records`: one row per training record: `record_id`, `contributor`, and any of `influence`
      (its total influence on the targets), `self_influence`, `flipped` (bool ground truth), `text`.
    - `targets`: sample targets, each `{"text": ..., "label": ..., "scores": rows with record_id,
      contributor, score, text}` (the target's column of the score matrix joined with the records).
    - `training`: rows with `step` and metrics (e.g. `loss`, `eval_accuracy`); `timings`: stage -> s
      (default `manifest["timings"]`).
    """
    labels = dict(labels or {}) or _labels_from(contributors)
    shares = viz.shares_frame(rewards)
    everyone = list(shares["contributor"])
    if contributors is not None:
        everyone += list(contributors["contributor"])
    colors = viz.contributor_colors(everyone)
    style = {"labels": labels, "colors": colors}
    policy = getattr(rewards, "policy", None) or manifest.get("rewards", {}).get("policy")
    root = getattr(rewards, "root", None) or manifest.get("rewards", {}).get("root")

    sections: list[tuple[str, Content, str]] = [
        (
            "Contributor reward shares",
            viz.contributor_shares(shares, title=None, **style),
            f"Shares in parts per million (sum 1,000,000) under policy {policy}; reward Merkle root {root}. "
            "Each contributor can prove their share against the root.",
        )
    ]
    board = shares if contributors is None else _with_shares(contributors, shares)
    sections.append(("Contributor leaderboard", viz.leaderboard_table(board, labels=labels, title=None), ""))
    if records is not None and "influence" in records:
        sections.append(
            (
                "Influence of each record, by contributor",
                viz.influence_distribution(records, value="influence", title=None, **style),
                "Each point is a training record; its influence summed over the targets. "
                "Helpful data sits above zero, harmful data below.",
            )
        )
    for t in targets:
        target_text = str(t.get("text", ""))
        heading = "Proponents and opponents"
        if "label" in t:
            heading += f" of a target labelled {t['label']}"
        sections.append(
            (
                heading,
                viz.top_records(t["scores"], k=top_k, target=target_text, **style),
                f"Target: {target_text[:300]}. Bars right of zero are training records that pushed the model "
                "toward this target's label, left of zero away from it; hover for the record's text.",
            )
        )
    if training is not None and len(training):
        sections.append(
            ("Training", viz.training_curve(training, title=None), "Loss per optimisation step and evaluation metrics.")
        )
    if records is not None and {"self_influence", "flipped"} <= set(records.columns):
        flipped = records["flipped"].fillna(False).astype(bool)
        if 0 < flipped.sum() < len(flipped):
            auc = roc_auc(records["self_influence"], flipped)
            sections.append(
                (
                    "Finding flipped labels",
                    viz.self_influence_roc(records["self_influence"], flipped),
                    f"Ground truth from the simulated contributors: {int(flipped.sum())} of {len(flipped)} records "
                    f"have flipped labels. Ranking records by self-influence finds them with ROC AUC {auc:.3f} "
                    "(1.0: every flipped record ranks above every clean one; 0.5: chance).",
                )
            )
            sections.append(
                (
                    "Self-influence by contributor",
                    viz.influence_distribution(
                        records,
                        value="self_influence",
                        title=None,
                        **style,
                    ),
                    "Mislabelled records are hard to fit, so they tend to have high self-influence.",
                )
            )
    timings = timings if timings is not None else manifest.get("timings")
    if timings:
        sections.append(
            ("Stage timings", viz.gas_or_timings(timings, title=None), "Wall-clock seconds per pipeline stage.")
        )

    run_id = manifest.get("run_id", "")
    return build_report(
        path,
        title=f"olab run {manifest.get('name', '')} {str(run_id)[:18]}".replace("  ", " ").strip(),
        intro=f"Check every link of this run from its files and the chain with: olab verify <this run's directory>. "
        f"Run id {run_id}.",
        summary=_summary(manifest),
        sections=sections,
    )


def _with_shares(contributors: pd.DataFrame, shares: pd.DataFrame) -> pd.DataFrame:
    """The contributor table with a `share_ppm` column, plus rows for share holders it lacks (a fee split's
    developer and stakers); addresses match case-insensitively."""
    ppm = {a.lower(): p for a, p in zip(shares["contributor"], shares["share_ppm"], strict=True)}
    table = contributors.assign(share_ppm=[ppm.pop(str(a).lower(), 0) for a in contributors["contributor"]])
    extra = shares[shares["contributor"].str.lower().isin(ppm)]
    return pd.concat([table, extra], ignore_index=True) if len(extra) else table


def _labels_from(contributors: pd.DataFrame | None) -> dict[str, str]:
    if contributors is None:
        return {}
    for col in ("label", "name", "behaviour"):
        if col in contributors:
            return {str(a): str(v) for a, v in zip(contributors["contributor"], contributors[col], strict=True)}
    return {}


def _summary(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """The manifest without its (long) resolved config and timings, chain hashes turned into explorer links."""
    out = {k: v for k, v in manifest.items() if k not in ("config", "timings")}
    chain = out.get("chain")
    if isinstance(chain, Mapping) and chain.get("explorer_url"):
        out["chain"] = _link_chain(chain, str(chain["explorer_url"]).rstrip("/"), "")
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


__all__ = ["Link", "build_report", "run_report"]
