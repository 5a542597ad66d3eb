"""The top-level API: a notebook cell is one `olab.<name>(...)` call."""

import olab


def test_top_level_names_are_the_documented_calls():
    from olab.attribution import attribute
    from olab.datanet import Datanet
    from olab.finetune.train import finetune
    from olab.ledger import Ledger
    from olab.pipeline import reproduce, run, verify

    assert olab.Datanet is Datanet and olab.Ledger is Ledger and olab.attribute is attribute
    assert (olab.run, olab.verify, olab.reproduce) == (run, verify, reproduce)
    assert callable(olab.finetune) and olab.finetune.finetune is finetune
    assert olab.rewards.compute is not None and olab.finetune.FinetuneConfig().task == "classification"


def test_finetune_call_reaches_the_function(monkeypatch):
    import olab.finetune as ft

    seen = {}
    monkeypatch.setattr(ft, "finetune", lambda *a, **k: seen.setdefault("args", (a, k)))
    olab.finetune(1, x=2)
    assert seen["args"] == ((1,), {"x": 2})
