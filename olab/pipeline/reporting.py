"""Gather a run's artifacts into the tables `olab.report.run_report` lays out as `report.html`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from olab import rewards as rewards_mod
from olab.adapters import Adapter
from olab.attribution import Attribution
from olab.datanet import Datanet
from olab.pipeline.influence import contributor_influence
from olab.pipeline.manifest import RunLayout
from olab.report import run_report


def record_table(dn: Datanet, attribution: Attribution) -> pd.DataFrame:
    """One row per training record: id, contributor, text, total influence, self-influence, ground truth."""
    table = dn.table.select(["record_id", "contributor", "text"]).to_pandas()
    table["influence"] = attribution.record_totals()
    table["self_influence"] = np.asarray(attribution.self_influence, dtype=np.float64)
    if "injected" in dn.table.column_names:
        table["flipped"] = [x == "label_flip" for x in dn.table.column("injected").to_pylist()]
    return table


def sample_targets(attribution: Attribution, records: pd.DataFrame, targets: Any, n: int) -> list[dict[str, Any]]:
    """The first `n` targets with their score column joined to the training records."""
    out = []
    for j in range(min(n, attribution.n_targets)):
        scores = records[["record_id", "contributor", "text"]].copy()
        scores["score"] = np.asarray(attribution.scores[:, j], dtype=np.float64)
        out.append({"text": targets[j]["text"], "label": targets[j]["label"], "scores": scores})
    return out


def training_rows(adapter: Adapter) -> list[Mapping[str, Any]]:
    """Loss per step, with evaluation metrics (prefixed eval_) at the steps they were measured."""
    rows = [dict(r) for r in adapter.metrics.get("train", [])]
    for ev in adapter.metrics.get("eval", []):
        rows.append({"step": ev["step"], **{f"eval_{k}": v for k, v in ev.items() if k not in ("step", "epoch")}})
    return rows


def write_report(
    layout: RunLayout, manifest: dict[str, Any], dn: Datanet, targets: Any, n_targets: int, timings: dict[str, float]
) -> None:
    """Write `report.html` for the run whose artifacts are in `layout`."""
    attribution = Attribution.open(layout.attribution)
    records = record_table(dn, attribution)
    _, shares = rewards_mod.load(layout.rewards)
    contributors = contributor_influence(attribution, dn)
    run_report(
        layout.report,
        manifest=manifest,
        rewards=shares,
        contributors=contributors,
        records=records,
        targets=sample_targets(attribution, records, targets, n_targets),
        training=training_rows(Adapter.open(layout.adapter(0))),
        timings=timings,
    )
