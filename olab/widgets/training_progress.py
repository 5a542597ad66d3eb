"""TrainingProgress: a progress bar and a live loss plot, fed by `olab.finetune(..., callback=progress)`."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import traitlets

from olab.widgets._base import OlabWidget, bundle

STATUSES = ("waiting", "training", "done", "failed")


class TrainingProgress(OlabWidget):
    """Call it with finetune's events ({"event": "step"|"eval"|"checkpoint"|"done", "step", "loss", ...}).

    Step events move the bar and extend the loss curve; eval events add their metrics to the plot; the
    plot (`olab.viz.training_curve`) is redrawn at most every `plot_interval_s` seconds, and always on
    eval and done events. `history` keeps every event received, in order.
    """

    _esm = bundle("training_progress.js")

    title = traitlets.Unicode("Fine-tuning", help="shown above the bar").tag(sync=True)
    status = traitlets.Enum(STATUSES, "waiting", help="waiting, training, done or failed").tag(sync=True)
    step = traitlets.Int(0, help="optimizer steps taken").tag(sync=True)
    total_steps = traitlets.Int(0, help="steps planned (0 = unknown)").tag(sync=True)
    epoch = traitlets.Float(0.0, help="fractional epoch of the latest step").tag(sync=True)
    loss = traitlets.Float(None, allow_none=True, help="training loss of the latest step").tag(sync=True)
    metrics = traitlets.Dict(help="the latest evaluation metrics").tag(sync=True)
    checkpoints = traitlets.List(traitlets.Int(), help="steps at which checkpoints were saved").tag(sync=True)
    elapsed_s = traitlets.Float(0.0, help="seconds since the first event").tag(sync=True)
    message = traitlets.Unicode("", help="the adapter path and hash when done, or the error").tag(sync=True)

    def __init__(self, *, title: str = "Fine-tuning", plot_interval_s: float = 0.5, **kwargs: Any) -> None:
        super().__init__(title=title, **kwargs)
        self.plot_interval_s = plot_interval_s
        self.history: list[dict[str, Any]] = []
        self._started: float | None = None
        self._plotted_at = float("-inf")

    def __call__(self, event: Mapping[str, Any]) -> None:
        """The finetune callback: record one event and update the bar, metrics and (throttled) plot."""
        now = time.perf_counter()
        if self._started is None:
            self._started = now
        kind = event.get("event", "step")
        self.history.append(dict(event))
        with self.hold_sync():
            self.elapsed_s = now - self._started
            if kind == "step":
                self.status = "training"
                self.step = int(event["step"])
                self.total_steps = int(event.get("total_steps", self.total_steps))
                self.epoch = float(event.get("epoch", self.epoch))
                self.loss = float(event["loss"])
            elif kind == "eval":
                self.metrics = {k: v for k, v in event.items() if k not in ("event", "step", "epoch")}
            elif kind == "checkpoint":
                self.checkpoints = [*self.checkpoints, int(event["step"])]
            elif kind == "done":
                self.status = "done"
                self.message = f"adapter {event.get('path', '')} · {event.get('hash', '')}".strip(" ·")
            if kind in ("eval", "done") or now - self._plotted_at >= self.plot_interval_s:
                self._replot(now)

    def fail(self, error: BaseException | str) -> None:
        """Mark the run failed (e.g. from an `except` around finetune), keeping the curve so far."""
        with self.hold_sync():
            self.status = "failed"
            self.message = str(error)
            self._replot(time.perf_counter())

    def curve(self) -> list[dict[str, Any]]:
        """Rows for `olab.viz.training_curve`: train loss per step, eval metrics (prefixed `eval_`) per eval."""
        rows: list[dict[str, Any]] = []
        for e in self.history:
            if e.get("event", "step") == "step":
                rows.append({"step": e["step"], "loss": e["loss"]})
            elif e.get("event") == "eval":
                rows.append(
                    {"step": e["step"]}
                    | {f"eval_{k}": v for k, v in e.items() if k not in ("event", "step", "epoch") and _number(v)}
                )
        return rows

    def _replot(self, now: float) -> None:
        rows = self.curve()
        if not rows:
            return
        from olab import viz

        self.set_figure(viz.training_curve(rows, title=None))
        self._plotted_at = now


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
