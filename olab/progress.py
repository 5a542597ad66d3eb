"""One progress protocol for every stage: `finetune`, `attribute` and `run` take `progress=`.

A stage reports `Event`s (stage, done, total, metrics, message) to one callable. `progress=True` shows tqdm
bars (the CLI), `False` shows nothing, and any callable receives the events: a notebook widget
(`olab.widgets.TrainingProgress`), `Log` (one line per stage, for logs and CI), or `tee(...)` of several.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

from olab.errors import ConfigError

Kind = Literal["start", "step", "eval", "checkpoint", "end", "fail"]


@dataclass(frozen=True)
class Event:
    """What a stage reports: `kind` "start" and "end" (or "fail", with the error as `message`) bracket a stage,
    "step" moves `done` towards `total`, "eval" and "checkpoint" carry results mid-stage. `time` is `time.perf_counter()` when it happened, so a
    consumer can measure throughput from the first steps."""

    stage: str
    kind: Kind = "step"
    done: int = 0
    total: int | None = None
    metrics: Mapping[str, Any] = field(default_factory=dict)
    message: str = ""
    time: float = field(default_factory=time.perf_counter)


Progress = Callable[[Event], None]


def _ignore(event: Event) -> None:
    """The sink for `progress=False`."""


def resolve(progress: bool | Progress | None) -> Progress:
    """`progress=` as given by a user: True -> tqdm bars, False/None -> nothing, a callable -> itself."""
    if progress is True:
        return Tqdm()
    if progress is None or progress is False:
        return _ignore
    if callable(progress):
        return progress
    raise ConfigError(
        f"progress={progress!r} is not a progress sink; pass True (tqdm bars), False (silent) or a callable that "
        "takes an olab.progress.Event (a TrainingProgress widget, olab.progress.Log(), ...)"
    )


def terminal(bars: bool) -> Progress:
    """The CLI's sink: tqdm bars, or (`--no-progress`, CI logs) one line per stage start and end and no bar
    from any library either; nothing at all under `olab -q`."""
    from olab import logs

    if not bars or logs.quiet():
        logs.silence_library_bars()
    if logs.quiet():
        return _ignore
    return Tqdm() if bars else Log()


def tee(*sinks: Progress) -> Progress:
    """One sink that forwards every event to each of `sinks`, in order."""

    def forward(event: Event) -> None:
        for sink in sinks:
            sink(event)

    return forward


def describe(event: Event) -> str | None:
    """The log line of a stage's start, end or eval, or None for steps and checkpoints."""
    if event.kind == "start":
        return f"[olab] {event.stage} ..." + (f" {event.message}" if event.message else "")
    if event.kind == "end":
        seconds = event.metrics.get("seconds")
        took = f" {seconds:8.1f} s" if seconds is not None else ""
        return f"[olab] {event.stage:<12}{took}" + (f" {event.message}" if event.message else "")
    if event.kind == "fail":
        return f"[olab] {event.stage} failed: {event.message}"
    if event.kind == "eval":
        shown = ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in event.metrics.items())
        return f"[olab] {event.stage} eval at {event.done}: {shown}"
    return None


def machine_load_note() -> str | None:
    """A line saying the machine is busy (load average above its CPU count), or None: the stage times and
    estimates that follow are this machine's now, not an idle one's."""
    try:
        load, cpus = os.getloadavg()[0], os.cpu_count() or 1
    except OSError:  # no load average on this platform
        return None
    if load <= cpus:
        return None
    return (
        f"[olab] this machine is busy (load average {load:.1f} on {cpus} CPUs): stages can take many times "
        "as long as on an idle one; the estimates below are measured as it is now"
    )


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


@dataclass
class Pace:
    """Measures each stage's throughput over its first steps and says once how long the rest will take.

    The first step (model loading, warm-up) is left out; the estimate is made after `SAMPLE` further steps or
    `SECONDS`, whichever comes first, and only for stages long enough to be worth a line. It is the pace on
    this machine now: a busier machine (another job, a higher load) makes it slower.
    """

    SAMPLE = 5
    SECONDS = 10.0
    MIN_REST_S = 20.0
    first: dict[str, tuple[int, float]] = field(default_factory=dict)
    said: set[str] = field(default_factory=set)

    def __call__(self, event: Event) -> str | None:
        if event.kind == "start":
            self.first.pop(event.stage, None)
            self.said.discard(event.stage)
            return None
        if event.kind != "step" or not event.total or event.stage in self.said:
            return None
        if event.stage not in self.first:
            self.first[event.stage] = (event.done, event.time)
            return None
        done0, t0 = self.first[event.stage]
        steps, elapsed = event.done - done0, event.time - t0
        if steps <= 0 or (steps < self.SAMPLE and elapsed < self.SECONDS):
            return None
        self.said.add(event.stage)
        rate = steps / elapsed if elapsed > 0 else float("inf")
        rest = (event.total - event.done) / rate
        if rest < self.MIN_REST_S:
            return None
        return (
            f"[olab] {event.stage}: about {_duration(rest)} to go at {rate:.3g}/s, the pace of the first "
            f"{event.done} of {event.total} here and now (a busier machine is slower)"
        )


@dataclass
class Log:
    """One line per stage start, end and evaluation, and a time estimate once a long stage has found its pace,
    written with `write` (print by default): for logs and CI."""

    write: Callable[[str], None] = print
    pace: Pace = field(default_factory=Pace)

    def __call__(self, event: Event) -> None:
        line = describe(event) or self.pace(event)
        if line is not None:
            self.write(line)


class Tqdm:
    """A tqdm bar per stage that reports a total; start, end and eval lines go through `tqdm.write`."""

    def __init__(self) -> None:
        self._bars: dict[str, Any] = {}
        self._pace = Pace()

    def __call__(self, event: Event) -> None:
        from tqdm.auto import tqdm

        bar = self._bars.get(event.stage)
        if event.kind == "step" and event.total:
            if bar is None:
                bar = self._bars[event.stage] = tqdm(total=event.total, desc=event.stage, leave=False)
            bar.update(event.done - bar.n)
            loss = event.metrics.get("loss")
            if loss is not None:
                bar.set_postfix(loss=f"{loss:.4f}", refresh=False)
        if event.kind in ("end", "fail") and bar is not None:
            self._bars.pop(event.stage).close()
        line = describe(event) or self._pace(event)
        if line is not None:
            tqdm.write(line)


@contextmanager
def stage(sink: Progress, name: str, total: int | None = None, message: str = "") -> Iterator[StageReport]:
    """Bracket a stage with start and end events; the yielded report sends steps and sets the end's message."""
    report = StageReport(sink, name, total)
    sink(Event(name, "start", total=total, message=message))
    started = time.perf_counter()
    try:
        yield report
    except BaseException as error:
        message = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
        sink(Event(name, "fail", done=report.done, total=total, message=message))
        raise
    metrics = {"seconds": round(time.perf_counter() - started, 3), **report.end_metrics}
    sink(Event(name, "end", done=report.done, total=total, metrics=metrics, message=report.end_message))


@dataclass
class StageReport:
    """Inside `stage(...)`: `advance(n, **metrics)` reports n more items done."""

    sink: Progress
    name: str
    total: int | None
    done: int = 0
    end_message: str = ""
    end_metrics: dict[str, Any] = field(default_factory=dict)

    def advance(self, n: int = 1, **metrics: Any) -> None:
        self.done += n
        self.sink(Event(self.name, "step", done=self.done, total=self.total, metrics=metrics))


class Steps:
    """Sub-stages run one after another (attribution's featurize and score passes): `next(name, total)` ends
    the previous one and returns the new one's `advance`. As a context manager, an error fails the open one."""

    def __init__(self, sink: Progress) -> None:
        self.sink = sink
        self._open: Any = None

    def next(self, name: str, total: int | None = None) -> Callable[..., None]:
        self.close()
        self._open = stage(self.sink, name, total)
        return self._open.__enter__().advance

    def close(self, *exc: Any) -> None:
        if self._open is not None:
            opened, self._open = self._open, None
            opened.__exit__(*(exc or (None, None, None)))

    def __enter__(self) -> Steps:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close(*exc)
