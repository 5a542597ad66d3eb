"""Gather a run's artifacts into the tables `olab.report.run_report` lays out as `report.html`."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from olab.adapters import Adapter
from olab.attribution import Attribution
from olab.pipeline.artifact import Run
from olab.pipeline.manifest import Manifest
from olab.report import run_report


def record_table(run: Run) -> pd.DataFrame:
    """One row per training record: id, contributor, text, total influence, self-influence, harm score (the run's
    detector), ground truth."""
    records = run.records()
    table = records[["record_id", "contributor", "text", "influence", "self_influence", "harm_score"]].copy()
    if "injected" in records:
        table["flipped"] = records["injected"] == "label_flip"
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


AFTER_REPORT = ("report", "total")  # timings measured only after report.html is written


def report_manifest(manifest: Manifest) -> Manifest:
    """The manifest as report.html shows it: without what is known only after the report is written (the finish
    time, the report's own time and the total), so the page rendered again from the final manifest (by
    `olab verify`, `Run.report()`) is the one `olab run` wrote."""
    timings = {k: v for k, v in manifest.timings.items() if k not in AFTER_REPORT}
    return manifest.model_copy(update={"created_at": None, "timings": timings})


def write_report(run: Run, path: Path | None = None) -> None:
    """Write `report.html` for `run` (to `path`, default the run directory's) from its artifacts (those it holds in
    memory, else its files). The page follows from them alone: rendered again, it is the same bytes."""
    attribution = run.attribution
    records = record_table(run)
    contributors = run.contributors()
    shown = report_manifest(run.manifest)
    run_report(
        path or run.layout.report,
        manifest=shown,
        rewards=run.rewards,
        contributors=contributors,
        records=records,
        targets=sample_targets(attribution, records, run.targets, run.config.run.report_targets),
        training=training_rows(run.adapters[0]),
        timings=shown.timings,
    )
