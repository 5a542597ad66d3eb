"""TrainingProgress: a progress bar and a live loss plot, fed by `olab.finetune(..., progress=widget)`."""

from __future__ import annotations

import time
from typing import Any

import traitlets

from olab.progress import Event
from olab.widgets._base import OlabWidget, bundle

STATUSES = ("waiting", "training", "done", "failed")
TRAINING_STAGE = "fine-tune"  # the stage `finetune` reports


class TrainingProgress(OlabWidget):
    """A progress sink (`olab.progress.Event`s) for `finetune(..., progress=widget)` or `run(..., progress=widget)`.

    Fine-tuning step events move the bar and extend the loss curve; eval events add their metrics to the plot;
    the plot (`olab.viz.training_curve`) is redrawn at most every `plot_interval_s` seconds, and always on eval
    and end events. Other stages' start and end events show as the message. `history` keeps every event.
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
        self.history: list[Event] = []
        self._started: float | None = None
        self._plotted_at = float("-inf")

    def __call__(self, event: Event) -> None:
        """Record one event and update the bar, metrics and (throttled) plot."""
        now = time.perf_counter()
        if self._started is None:
            self._started = now
        self.history.append(event)
        training = event.stage == TRAINING_STAGE
        with self.hold_sync():
            self.elapsed_s = now - self._started
            if event.kind == "fail":
                self.status, self.message = "failed", event.message
            elif not training:
                self.message = f"{event.stage}: {event.kind} {event.message}".strip()
            elif event.kind == "step":
                self.status = "training"
                self.step, self.total_steps = event.done, event.total or self.total_steps
                self.epoch = float(event.metrics.get("epoch", self.epoch))
                self.loss = float(event.metrics["loss"])
            elif event.kind == "eval":
                self.metrics = {k: v for k, v in event.metrics.items() if k != "epoch"}
            elif event.kind == "checkpoint":
                self.checkpoints = [*self.checkpoints, event.done]
            elif event.kind == "end":
                self.status, self.message = "done", f"adapter {event.message}"
            if training and (event.kind in ("eval", "end", "fail") or now - self._plotted_at >= self.plot_interval_s):
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
            if e.stage != TRAINING_STAGE:
                continue
            if e.kind == "step":
                rows.append({"step": e.done, "loss": e.metrics["loss"]})
            elif e.kind == "eval":
                numbers = {f"eval_{k}": v for k, v in e.metrics.items() if k != "epoch" and _number(v)}
                rows.append({"step": e.done} | numbers)
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
