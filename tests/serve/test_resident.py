"""A bound on resident adapters (ServeConfig.max_resident): with 2 resident and 8 served, requests cycling over all
of them answer exactly as with no bound, the base model never holds more than 2 adapters, and every adapter a batch
names is loaded while that batch runs (the least recently used one unloads only between batches)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from olab.errors import OlabError
from olab.serve.app import Receipts
from olab.serve.config import ServeConfig
from olab.serve.engine import Engine, Job
from olab.serve.receipts import KEY_ENV
from olab.serve.registry import Registry, register_runs


def _answers(registry: Registry, jobs: list[tuple[str, list[int]]], together: bool) -> list[str]:
    engine = Engine(registry, max_wait_ms=500 if together else 0)
    try:
        if together:  # all submitted at once: one window, mixed batches cut to what may be resident
            futures = [engine.submit(Job(adapter=n, kind="generate", ids=ids, max_tokens=6)) for n, ids in jobs]
            return [f.result(timeout=300).text for f in futures]
        return [
            engine.submit(Job(adapter=n, kind="generate", ids=ids, max_tokens=6)).result(timeout=300).text
            for n, ids in jobs
        ]
    finally:
        engine.close()


def _watch(registry: Registry, name: str) -> tuple[list[int], list[str]]:
    """Spy on the real PEFT model: how many adapters it holds after each load, and any adapter a batch named that
    was not loaded when it ran."""
    model = registry.resident(name).model
    peaks: list[int] = []
    missing: list[str] = []
    load, generate = model.load_adapter, model.generate

    def counted_load(*args: Any, **kwargs: Any) -> Any:
        out = load(*args, **kwargs)
        peaks.append(len(model.peft_config))
        return out

    def checked_generate(*args: Any, **kwargs: Any) -> Any:
        missing.extend(n for n in kwargs["adapter_names"] if n not in model.peft_config)
        return generate(*args, **kwargs)

    model.load_adapter, model.generate = counted_load, checked_generate
    return peaks, missing


def test_two_resident_of_eight_answer_as_with_no_bound(runs: dict[str, Path]) -> None:
    adapters = register_runs([runs["lm_r4"], runs["lm_r8"]])
    names = sorted(adapters)
    unbounded, bounded = Registry(adapters), Registry(adapters, max_resident=2)
    tok = unbounded.resident(names[0]).tokenizer
    prompts = [tok(t)["input_ids"] for t in ("Markets rally as rates fall", "The team won", "New chip unveiled")]
    cycle = [(n, prompts[i % 3]) for i in range(3) for n in names[i:] + names[:i]]  # 24 requests over all 8

    want = _answers(unbounded, cycle, together=False)
    assert len(set(want)) > 1  # the adapters and prompts give different answers, so a wrong adapter would show
    peaks, missing = _watch(bounded, names[0])
    assert _answers(bounded, cycle, together=False) == want
    assert _answers(bounded, cycle, together=True) == want
    assert peaks and max(peaks) == 2 and len(bounded.resident_names) <= 2
    assert not missing, f"a batch ran with adapters not loaded: {missing}"
    assert bounded.loads > 8  # adapters were unloaded and loaded again, not all kept
    assert unbounded.loads == 8
    # one resident: each load unloads the base model's only adapter first
    assert _answers(Registry(adapters, max_resident=1), cycle, together=True) == want


def test_a_bound_below_one_is_refused(runs: dict[str, Path]) -> None:
    with pytest.raises(OlabError, match="max_resident=0"):
        Registry(register_runs([runs["clf"]]), max_resident=0)


def test_prepared_receipt_scorers_are_bounded_like_adapters(runs, tmp_path, monkeypatch) -> None:
    """Each adapter's prepared training side holds a model of its own: no more are kept than adapters may be
    resident, and one prepared again after eviction gives the same receipt records."""
    monkeypatch.setenv(KEY_ENV, "0x" + "5e" * 32)
    registry = Registry(register_runs([runs["lm_r4"]]), max_resident=1)
    receipts = Receipts(registry, ServeConfig(receipts=str(tmp_path / "r.sqlite"), max_resident=1))
    a, b = sorted(registry.adapters)[:2]
    issued = [receipts.store.get(receipts.issue(n, {"kind": "completion"}, "Markets", " rally")) for n in (a, b, a)]
    assert len(receipts._scorers) == 1
    assert issued[0]["records"] == issued[2]["records"] != issued[1]["records"]


def test_a_slow_preparation_holds_up_only_its_own_adapters_receipts(runs, tmp_path, monkeypatch) -> None:
    """The first receipt of an adapter prepares its training side (minutes for a large run): meanwhile another
    adapter's receipts are issued, and concurrent first answers of the slow adapter prepare it once."""
    from olab.serve.answers import AnswerScorer

    monkeypatch.setenv(KEY_ENV, "0x" + "5e" * 32)
    registry = Registry(register_runs([runs["lm_r4"]]), max_resident=2)
    receipts = Receipts(registry, ServeConfig(receipts=str(tmp_path / "r.sqlite"), max_resident=2))
    slow, fast = sorted(registry.adapters)[:2]
    release, calls, prepare = threading.Event(), [], AnswerScorer.prepare.__func__

    def held(cls, run, member=0, device="cpu"):
        calls.append(member)
        if member == registry.get(slow).member:
            assert release.wait(120), "the test never released the slow preparation"
        return prepare(cls, run, member, device)

    monkeypatch.setattr(AnswerScorer, "prepare", classmethod(held))
    with ThreadPoolExecutor(2) as pool:
        waiting = [pool.submit(receipts.issue, slow, {"kind": "completion"}, "Markets", " rally") for _ in range(2)]
        rid = receipts.issue(fast, {"kind": "completion"}, "Markets", " rally")  # would deadlock with one lock
        assert receipts.store.get(rid)["adapter"]["member"] == registry.get(fast).member
        assert not any(f.done() for f in waiting)
        release.set()
        issued = [receipts.store.get(f.result(timeout=120)) for f in waiting]
    assert issued[0]["records"] == issued[1]["records"]
    assert calls.count(registry.get(slow).member) == 1
