"""The batching engine: requests for different adapters that arrive together run as one PEFT mixed-adapter batch,
and each row answers exactly as its adapter alone would."""

from __future__ import annotations

from pathlib import Path

import torch

from olab.serve.engine import Engine, Job
from olab.serve.registry import Registry, register_runs


def test_a_mixed_batch_answers_each_row_as_its_adapter_alone(runs: dict[str, Path]) -> None:
    registry = Registry(register_runs([runs["lm_r4"], runs["lm_r8"]]))
    names = sorted(registry.adapters)
    assert len(names) == 8
    res = registry.resident(names[0])
    for name in names:
        assert registry.resident(name) is res  # one base model holds all eight
    slots = [registry.slot(n) for n in names]
    ids = res.tokenizer("Markets rally as rates fall")["input_ids"]
    jobs = [Job(adapter=n, kind="generate", ids=ids[: 2 + i % 4], max_tokens=4) for i, n in enumerate(names)]

    engine = Engine(registry, max_wait_ms=500)
    try:
        mixed = [f.result(timeout=300) for f in [engine.submit(j) for j in jobs]]
        assert engine.batches[-1] == names  # one batch, eight adapters
        alone = [engine.submit(Job(**{**j.__dict__, "future": type(j.future)()})).result(timeout=300) for j in jobs]
        assert all(len(b) == 1 for b in engine.batches[-8:])
    finally:
        engine.close()
    assert mixed == alone

    # the rows really went through different adapters: logits per row equal that adapter's own, and differ
    enc = res.tokenizer(["Markets rally as rates fall"] * len(names), return_tensors="pt")
    with torch.no_grad():
        together = res.model(**enc, adapter_names=slots).logits
        for i, slot in enumerate(slots):
            res.model.set_adapter(slot)
            own = res.model(input_ids=enc["input_ids"][i : i + 1], attention_mask=enc["attention_mask"][i : i + 1])
            torch.testing.assert_close(together[i : i + 1], own.logits, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(together[0], together[4])  # r=4 and r=8 adapters answer differently
