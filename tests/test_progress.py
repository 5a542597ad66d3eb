"""One progress protocol: stages report Events; tqdm, a log, widgets and user callables consume them."""

from __future__ import annotations

import pytest

from olab.errors import ConfigError
from olab.progress import Event, Log, Steps, Tqdm, resolve, stage, tee, terminal


def test_a_stage_is_bracketed_by_start_and_end_with_its_duration():
    events: list[Event] = []
    with stage(events.append, "featurize", total=3, message="member 1") as report:
        report.advance(2, loss=0.5)
        report.advance(1)
        report.end_message = "done"
    assert [(e.kind, e.done, e.total) for e in events] == [
        ("start", 0, 3),
        ("step", 2, 3),
        ("step", 3, 3),
        ("end", 3, 3),
    ]
    assert events[0].message == "member 1" and events[1].metrics == {"loss": 0.5} and events[-1].message == "done"
    assert events[-1].metrics["seconds"] >= 0 and events[0].time <= events[1].time <= events[-1].time


def test_an_error_inside_a_stage_reports_fail_and_propagates():
    events: list[Event] = []
    with pytest.raises(MemoryError), stage(events.append, "score", total=10) as report:
        report.advance(4)
        raise MemoryError("out of memory")
    assert (events[-1].kind, events[-1].done, events[-1].message) == ("fail", 4, "MemoryError: out of memory")


def test_steps_end_one_sub_stage_when_the_next_begins_and_fail_the_open_one():
    events: list[Event] = []
    with pytest.raises(KeyError), Steps(events.append) as steps:
        steps.next("featurize train", 2)(2)
        steps.next("score", 2)(1)
        raise KeyError("x")
    assert [(e.stage, e.kind) for e in events] == [
        ("featurize train", "start"), ("featurize train", "step"), ("featurize train", "end"),
        ("score", "start"), ("score", "step"), ("score", "fail"),
    ]  # fmt: skip


def test_log_writes_one_line_per_start_end_eval_and_failure():
    lines: list[str] = []
    sink = Log(lines.append)
    with stage(sink, "finetune") as report:
        report.advance(1, loss=1.0)  # steps are not logged
        sink(Event("finetune", "eval", done=1, metrics={"accuracy": 0.75}))
        report.end_message = "(cached)"
    sink(Event("publish", "fail", message="LedgerError: no chain"))
    assert lines[0] == "[olab] finetune ..." and lines[1] == "[olab] finetune eval at 1: accuracy 0.75"
    assert lines[2].startswith("[olab] finetune ") and lines[2].endswith(" s (cached)")
    assert lines[3] == "[olab] publish failed: LedgerError: no chain" and len(lines) == 4


def test_tqdm_opens_a_bar_per_stage_and_closes_it_at_the_end(capsys):
    sink = Tqdm()
    with stage(sink, "fine-tune", total=4) as report:
        report.advance(3, loss=0.25)
        assert sink._bars["fine-tune"].n == 3
    assert sink._bars == {}
    out = capsys.readouterr().out
    assert "[olab] fine-tune ..." in out and "[olab] fine-tune " in out.splitlines()[-1]


def test_progress_arguments_resolve_to_one_sink_shape():
    seen: list[Event] = []
    assert isinstance(resolve(True), Tqdm) and resolve(seen.append) == seen.append
    resolve(False)(Event("x"))  # silent
    assert isinstance(terminal(True), Tqdm) and isinstance(terminal(False), Log)
    both: list[Event] = []
    tee(seen.append, both.append)(Event("x", "start"))
    assert seen == both and len(seen) == 1
    with pytest.raises(ConfigError, match=r"progress='bars' is not a progress sink; pass True"):
        resolve("bars")


def test_a_long_stage_gets_one_time_estimate_from_the_pace_of_its_first_steps():
    lines: list[str] = []
    sink = Log(lines.append)
    sink(Event("finetune", "start", total=100, time=0.0))
    sink(Event("finetune", "step", done=1, total=100, time=30.0))  # the first step (loading, warm-up) is not timed
    sink(Event("finetune", "step", done=3, total=100, time=34.0))  # 2 steps in 4 s: too few, too soon
    assert lines == ["[olab] finetune ..."]
    sink(Event("finetune", "step", done=6, total=100, time=40.0))  # 5 steps in 10 s: 0.5/s, 94 left
    assert lines[1] == (
        "[olab] finetune: about 3 min to go at 0.5/s, the pace of the first 6 of 100 here and now "
        "(a busier machine is slower)"
    )
    sink(Event("finetune", "step", done=50, total=100, time=100.0))
    sink(Event("attribution", "start", total=10, time=0.0))  # a short stage gets no estimate
    for done in range(1, 11):
        sink(Event("attribution", "step", done=done, total=10, time=float(done)))
    assert len(lines) == 3 and lines[2] == "[olab] attribution ..."


def test_a_busy_machine_is_named_before_the_times_it_stretches(monkeypatch):
    from olab import progress

    monkeypatch.setattr(progress.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(progress.os, "getloadavg", lambda: (9.0, 8.0, 7.0))
    assert progress.machine_load_note() == (
        "[olab] this machine is busy (load average 9.0 on 2 CPUs): stages can take many times as long as on an "
        "idle one; the estimates below are measured as it is now"
    )
    monkeypatch.setattr(progress.os, "getloadavg", lambda: (1.5, 1.0, 1.0))
    assert progress.machine_load_note() is None
