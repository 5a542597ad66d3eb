"""The top-level API: a notebook cell is one `olab.<name>(...)` call."""

import inspect

import olab


def test_top_level_names_are_the_documented_calls():
    from olab.adapters import FinetuneConfig
    from olab.adapters.train import finetune
    from olab.attribution import attribute
    from olab.datanet import Datanet
    from olab.ledger import Ledger
    from olab.pipeline import reproduce, run, verify

    assert olab.Datanet is Datanet and olab.Ledger is Ledger and olab.attribute is attribute
    assert (olab.run, olab.verify, olab.reproduce) == (run, verify, reproduce)
    assert olab.finetune is finetune and FinetuneConfig().task == "classification"
    assert olab.rewards.compute is not None


def test_stage_calls_are_plain_functions_with_their_real_signatures():
    """Jupyter's `olab.finetune?` shows the real parameters, not `(*args, **kwargs)`."""
    for call in (olab.finetune, olab.attribute, olab.run, olab.verify, olab.reproduce):
        assert inspect.isfunction(call), call
        assert "args" not in inspect.signature(call).parameters, call


def test_pipeline_modules_are_not_shadowed_by_their_functions():
    import olab.pipeline.reproduction
    import olab.pipeline.runner
    import olab.pipeline.verification

    assert olab.pipeline.runner.run is olab.run and olab.pipeline.verification.verify is olab.verify
    assert olab.pipeline.reproduction.reproduce is olab.reproduce
