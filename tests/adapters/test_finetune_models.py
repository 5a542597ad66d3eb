"""Base models: aliases, local directories and Hub ids resolve or fail clearly; weight hashes track the files."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
import torch

from olab.adapters import base_weight_hash, load_base_model, resolve_base_model
from olab.adapters.models import _build_tiny_gpt2
from olab.errors import ConfigError
from olab.hashing import hash_json, sha256_file


def test_minilm_alias_is_the_packaged_model_dir_and_its_hash_is_the_weight_file():
    path = Path(resolve_base_model("all-MiniLM-L6-v2"))
    assert (path / "config.json").is_file() and (path / "model.safetensors").is_file()
    assert base_weight_hash("all-MiniLM-L6-v2") == hash_json(
        {"model.safetensors": sha256_file(path / "model.safetensors")}
    )
    # a local directory is used as it is, and hashes the same as the alias naming it
    assert resolve_base_model(str(path)) == str(path.resolve())
    assert base_weight_hash(str(path)) == base_weight_hash("all-MiniLM-L6-v2")


def test_tiny_gpt2_is_built_reproducibly(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    _build_tiny_gpt2(a)
    _build_tiny_gpt2(b)
    assert base_weight_hash(str(a)) == base_weight_hash(str(b)) == base_weight_hash("tiny-gpt2")


def test_weight_hash_changes_when_one_weight_changes(tmp_path):
    copy = tmp_path / "model"
    shutil.copytree(resolve_base_model("tiny-gpt2"), copy)
    before = base_weight_hash(str(copy))
    weights = copy / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    assert base_weight_hash(str(copy)) != before
    weights.unlink()
    with pytest.raises(ConfigError, match=r"no weight files"):
        base_weight_hash(str(copy))


def test_tiny_gpt2_tokenizer_is_byte_level_and_lossless():
    model, tok = load_base_model("tiny-gpt2", "causal_lm")
    text = "Zürich — 3.5% up\ttoday"
    ids = tok(text)["input_ids"]
    assert ids == list(text.encode())
    assert tok.decode(ids) == text
    assert tok.pad_token_id == model.config.pad_token_id == 256
    assert model.lm_head.out_features == 257


def test_classification_head_gets_the_label_names():
    model, _ = load_base_model("all-MiniLM-L6-v2", "classification", ["a", "b", "c"])
    assert model.classifier.out_features == 3
    assert model.config.id2label == {0: "a", 1: "b", 2: "c"} and model.config.label2id["c"] == 2
    assert next(model.parameters()).dtype == torch.float32
    with pytest.raises(ConfigError, match="needs the label names"):
        load_base_model("all-MiniLM-L6-v2", "classification")


@pytest.mark.parametrize("name", ["/nowhere/such-model", "./models/mini", "~/no/such/dir/at/all"])
def test_a_missing_path_names_the_value_and_what_works(name):
    with pytest.raises(ConfigError) as err:
        resolve_base_model(name)
    msg = str(err.value)
    assert repr(name) in msg and "no such directory" in msg
    assert "all-MiniLM-L6-v2" in msg and "Hub id" in msg


def test_a_typo_of_an_alias_is_pointed_out():
    with pytest.raises(ConfigError, match=r"did you mean the alias 'all-MiniLM-L6-v2'"):
        resolve_base_model("./all-MiniLM-L6-v3")


def test_a_directory_without_config_json_is_not_a_model(tmp_path):
    (tmp_path / "weights.bin").write_bytes(b"x")
    with pytest.raises(ConfigError, match=r"no config.json"):
        resolve_base_model(str(tmp_path))


def test_an_unreachable_hub_id_fails_with_a_clear_message(monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # as offline here, without retry waits
    assert resolve_base_model("no-such-org/no-such-model") == "no-such-org/no-such-model"
    started = time.monotonic()
    with pytest.raises(ConfigError) as err:
        load_base_model("no-such-org/no-such-model", "classification", ["a", "b"])
    msg = str(err.value)
    assert "'no-such-org/no-such-model' could not be loaded" in msg
    assert "local Hugging Face model directory" in msg and "HF_HUB_OFFLINE=1" in msg
    with pytest.raises(ConfigError, match=r"cannot fetch its weights"):
        base_weight_hash("no-such-org/no-such-model")
    assert time.monotonic() - started < 30
