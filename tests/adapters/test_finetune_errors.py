"""Bad input stops `finetune` with a message naming what is wrong and what would be right, before any model is
loaded, and writes nothing."""

from __future__ import annotations

import pytest
import torch
from datasets import Dataset
from ft_helpers import LABELS, tiny_cfg

import olab.adapters.train as train_mod
from olab.adapters import finetune
from olab.errors import ConfigError, OlabError, ValidationError

GOOD = {
    "text": ["stocks fell", "the team won", "rain in Paris", "new chip"],
    "label": ["Business", "Sports", "World", "Sci/Tech"],
}


def ds(**columns) -> Dataset:
    return Dataset.from_dict(columns)


@pytest.fixture
def no_model_loading(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a model was loaded before the input was checked")

    monkeypatch.setattr(train_mod, "load_base_model", refuse)


@pytest.mark.parametrize(
    ("train", "labels", "cfg", "error", "words"),
    [
        (
            ds(text=["a", "b", "c"], label=["World", "Weather", "Gossip"]),
            LABELS,
            {},
            ValidationError,
            ["['Gossip', 'Weather']", "not in labels", "row 1", "World"],
        ),
        (ds(text=[], label=[]), LABELS, {}, ValidationError, ["train set is empty"]),
        (
            ds(body=["x"], label=["World"]),
            LABELS,
            {},
            ValidationError,
            ["missing column(s) ['text']", "['body', 'label']"],
        ),
        (ds(text=["x"]), LABELS, {}, ValidationError, ["missing column(s) ['label']"]),
        (
            ds(text=["fine", "  "], label=["World", "World"], record_id=["r0", "r1"]),
            LABELS,
            {},
            ValidationError,
            ["row 1 (record_id 'r1')", "non-empty text"],
        ),
        (ds(**GOOD), ["World"], {}, ConfigError, ["at least 2 label names"]),
        (ds(**GOOD), ["World", "World", "Sports"], {}, ConfigError, ["distinct"]),
        (
            ds(**GOOD),
            LABELS,
            {"checkpoints": 5},
            ConfigError,
            ["checkpoints=5", "only 1 optimiser step;"],
        ),
        (
            ds(text=["one"], label=["World"]),
            LABELS,
            {"eval_fraction": 0.05},
            ConfigError,
            ["eval_fraction=0.05 of 1 examples leaves 1 for eval and 0 for training"],
        ),
        (ds(**GOOD), LABELS, {"precision": "fp16", "device": "cpu"}, ConfigError, ["fp16", "CUDA"]),
        (
            ds(**GOOD),
            LABELS,
            {"base_model": "/nowhere/such-model"},
            ConfigError,
            ["'/nowhere/such-model'", "no such directory"],
        ),
        ({"text": ["x"]}, LABELS, {}, ValidationError, ["datasets.Dataset", "dict"]),
    ],
)
def test_bad_input_is_named_before_any_model_loads(no_model_loading, tmp_path, train, labels, cfg, error, words):
    with pytest.raises(error) as err:
        finetune(
            train, labels, tiny_cfg(epochs=1, checkpoints=1, eval_fraction=0) | cfg, tmp_path / "out", progress=False
        )
    for word in words:
        assert word in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_bad_eval_set_is_named_as_eval(no_model_loading, tmp_path):
    with pytest.raises(ValidationError, match=r"^eval: label\(s\) \['Politics'\]"):
        finetune(
            ds(**GOOD), LABELS, tiny_cfg(), tmp_path / "o", eval=ds(text=["x"], label=["Politics"]), progress=False
        )


def test_provenance_may_not_overwrite_finetunes_own_keys(no_model_loading, tmp_path):
    with pytest.raises(ConfigError, match=r"\['seed'\] are written by finetune"):
        finetune(ds(**GOOD), LABELS, tiny_cfg(), tmp_path / "o", provenance={"seed": 3}, progress=False)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_cuda_requested_without_a_gpu(no_model_loading, tmp_path):
    with pytest.raises(ConfigError, match=r"device='cuda' but no CUDA device.*'auto' or 'cpu'"):
        finetune(ds(**GOOD), LABELS, tiny_cfg(device="cuda"), tmp_path / "o", progress=False)


def test_target_modules_that_match_nothing_list_the_real_layer_names(tmp_path):
    with pytest.raises(ConfigError) as err:
        finetune(
            ds(**GOOD), LABELS, tiny_cfg(lora={"target_modules": ["query", "value"]}), tmp_path / "o", progress=False
        )
    msg = str(err.value)
    assert "finetune.lora.target_modules=['query', 'value'] matches no layer of 'tiny-gpt2'" in msg
    assert "'c_attn'" in msg and "'all-linear'" in msg
    assert list(tmp_path.iterdir()) == []


def test_max_length_beyond_the_models_positions(tmp_path):
    with pytest.raises(ConfigError, match=r"max_length=1000 exceeds 'tiny-gpt2''s 512 positions"):
        finetune(ds(**GOOD), LABELS, tiny_cfg(max_length=1000), tmp_path / "o", progress=False)


def test_an_existing_artifact_is_never_clobbered(tmp_path):
    out = tmp_path / "o"
    out.mkdir()
    (out / "keep.txt").write_text("earlier work")
    with pytest.raises(OlabError, match="already exists and is not empty"):
        finetune(ds(**GOOD), LABELS, tiny_cfg(), out, progress=False)
    assert (out / "keep.txt").read_text() == "earlier work"
