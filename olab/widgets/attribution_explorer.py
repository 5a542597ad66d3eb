"""AttributionExplorer: choose a target example, see the training records that most helped or hurt it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import traitlets

from olab.errors import ValidationError
from olab.metrics import top_and_bottom
from olab.widgets._base import OlabWidget, bundle, to_rows


class AttributionExplorer(OlabWidget):
    """Top proponents (score > 0) and opponents (score < 0) of the selected target, with their contributors.

    `scores`: array (n_train, n_targets), TRAK's train x target influence; `train`: one row per training
    record with `record_id`, `contributor`, `text`, `label`; `targets`: one row per target with `text`
    and `label` (and any other columns to show). Setting `target` (an index into `targets`), from Python
    or from the dropdown, recomputes `proponents`, `opponents` and the `olab.viz.top_records` plot.
    """

    _esm = bundle("attribution_explorer.js")

    targets = traitlets.List(traitlets.Dict(), help="the targets one can choose, in score-column order").tag(sync=True)
    target = traitlets.Int(0, help="index of the selected target in `targets`").tag(sync=True)
    k = traitlets.Int(5, help="how many proponents and opponents to list").tag(sync=True)
    proponents = traitlets.List(traitlets.Dict(), help="the k records with the largest positive scores").tag(sync=True)
    opponents = traitlets.List(traitlets.Dict(), help="the k records with the most negative scores").tag(sync=True)

    def __init__(
        self,
        scores: Any,
        train: Any,
        targets: Any,
        *,
        target: int = 0,
        k: int = 5,
        labels: Mapping[str, str] | None = None,
        colors: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        matrix = np.asarray(scores, dtype=float)
        train_rows, target_rows = to_rows(train), to_rows(targets)
        if matrix.shape != (len(train_rows), len(target_rows)):
            raise ValidationError(
                f"scores have shape {matrix.shape}; expected (n_train, n_targets) = "
                f"({len(train_rows)}, {len(target_rows)}) for the {len(train_rows)} train rows and "
                f"{len(target_rows)} targets given"
            )
        if not target_rows:
            raise ValidationError("AttributionExplorer needs at least one target")
        for i, row in enumerate(train_rows):
            if "contributor" not in row:
                raise ValidationError(f"train row {i} has no 'contributor' column; columns: {sorted(row)}")
        self._scores = matrix
        self._labels = dict(labels or {})
        self._colors = dict(colors or {})
        lowered = {str(a).lower(): n for a, n in self._labels.items()}
        self._train = [
            {
                "record_id": str(r.get("record_id", r.get("id", i))),
                "contributor": str(r["contributor"]),
                "name": str(lowered.get(str(r["contributor"]).lower(), "")),
                "label": "" if r.get("label") is None else str(r["label"]),
                "text": str(r.get("text", "")),
            }
            for i, r in enumerate(train_rows)
        ]
        shown = [
            {**t, "index": i, "text": str(t.get("text", "")), "label": str(t.get("label", ""))}
            for i, t in enumerate(target_rows)
        ]
        self._ready = False  # observers wait until every trait is set
        super().__init__(targets=shown, target=target, k=k, **kwargs)
        self._ready = True
        self._update()

    @classmethod
    def from_run(cls, run: Any, **kwargs: Any) -> AttributionExplorer:
        """The explorer of a finished run (an `olab.Run` or its directory): its scores, Datanet records and
        stored targets, with contributors labelled by display name."""
        from olab.widgets._run import open_run

        run = open_run(run)
        train = run.datanet.to_pandas()
        columns = [c for c in ("record_id", "contributor", "text", "label", "injected") if c in train]
        return cls(
            run.attribution.scores,
            train[columns],
            run.targets.to_pandas()[["text", "label"]],
            labels=run.names() | (kwargs.pop("labels", None) or {}),
            **kwargs,
        )

    @traitlets.validate("target")
    def _check_target(self, proposal: dict[str, Any]) -> int:
        value = proposal["value"]
        if not 0 <= value < len(self.targets):
            raise ValidationError(f"target must be an index in [0, {len(self.targets)}), got {value}")
        return value

    @traitlets.validate("k")
    def _check_k(self, proposal: dict[str, Any]) -> int:
        if proposal["value"] < 1:
            raise ValidationError(f"k must be at least 1, got {proposal['value']}")
        return proposal["value"]

    @traitlets.observe("target", "k")
    def _on_change(self, _change: dict[str, Any]) -> None:
        if self._ready:
            self._update()

    def column(self, target: int | None = None) -> list[dict[str, Any]]:
        """Every training record with its score for `target` (default: the selected one)."""
        j = self.target if target is None else target
        return [{**r, "score": float(s)} for r, s in zip(self._train, self._scores[:, j], strict=True)]

    def _update(self) -> None:
        from olab import viz

        rows = self.column()
        highest, lowest = top_and_bottom(self._scores[:, self.target], self.k)
        pro = [rows[i] for i in highest if rows[i]["score"] > 0]
        con = [rows[i] for i in lowest if rows[i]["score"] < 0]
        chosen = self.targets[self.target]
        fig = viz.top_records(rows, k=self.k, target=chosen["text"], labels=self._labels, colors=self._colors)
        with self.hold_sync():
            self.proponents = [{**r, "rank": n + 1} for n, r in enumerate(pro)]
            self.opponents = [{**r, "rank": n + 1} for n, r in enumerate(con)]
            self.set_figure(fig)
