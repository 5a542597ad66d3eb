"""The offline generative base model (alias smollm2-135m-instruct) and instruction tuning on it: the alias
converts and loads, greedy decoding knows a fact, the chat encoding puts the loss on the response only, and
a few LoRA steps on real instruction records raise exact match on the taught answers above the base model's.
One shared fine-tune (16 records of about 40 tokens, 4 steps in bf16 autocast) keeps this to about a minute of
compute on 2 cores."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from olab.adapters import base_weight_hash, finetune, resolve_base_model
from olab.adapters.chat import IGNORE_INDEX, answer_budget, exact_match, generate
from olab.adapters.data import encode
from olab.adapters.models import cache_dir, load_base_model
from olab.adapters.train import ARCH_TARGET_MODULES
from olab.datanet.synth_instructions import generate as instructions
from olab.hashing import hash_json, sha256_file
from olab.io import read_json

pytestmark = pytest.mark.slow

ALIAS = "smollm2-135m-instruct"
CFG = {
    "base_model": ALIAS, "task": "causal_lm", "epochs": 2, "batch_size": 8, "learning_rate": 1e-2,
    "max_length": 64, "checkpoints": 1, "precision": "bf16",
}  # fmt: skip


@pytest.fixture(scope="module")
def base():
    return load_base_model(ALIAS, "causal_lm")


def test_alias_converts_once_into_the_cache_and_records_its_weight_hash(base):
    path = Path(resolve_base_model(ALIAS))
    assert path.parent == cache_dir() / "models" and (path / "config.json").is_file()
    weights = sorted(path.glob("*.safetensors"))
    assert weights and base_weight_hash(ALIAS) == hash_json({p.name: sha256_file(p) for p in weights})
    model, _ = base
    assert type(model).__name__ == "LlamaForCausalLM" and model.config.num_hidden_layers == 30
    assert sum(p.numel() for p in model.parameters()) == 134_515_008


def test_greedy_decoding_knows_a_fact(base):
    model, tok = base
    ids = tok("The capital of France is", return_tensors="pt")
    out = model.generate(**ids, max_new_tokens=4, do_sample=False)
    assert "Paris" in tok.decode(out[0, ids["input_ids"].shape[1] :])


def test_chat_encoding_labels_the_response_and_end_of_turn_only(base):
    _, tok = base
    pairs = [("What is 2 plus 3?", "5"), ("Name the capital city of Peru.", "Lima")]
    batch = encode(tok, pairs, None, "causal_lm", 64)
    for row, (prompt, response) in enumerate(pairs):
        ids, labels = batch["input_ids"][row], batch["labels"][row]
        assert tok.decode(labels[labels != IGNORE_INDEX]) == response + tok.eos_token
        real = ids[batch["attention_mask"][row] == 1]
        assert prompt in tok.decode(real) and tok.decode(real).endswith("assistant\n" + response + tok.eos_token)
    short = encode(tok, [("What is 2 plus 3? " * 20, "5")], None, "causal_lm", 16)  # truncation keeps the answer
    assert short["input_ids"].shape[1] == 16 and tok.decode(short["labels"][0, -2:]) == "5" + tok.eos_token


@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    taught = instructions(16, seed=3)
    adapter = finetune(taught, [], CFG, tmp_path_factory.mktemp("llm") / "a", eval=taught.select(range(8)),
                       progress=False)  # fmt: skip
    return adapter, taught


def test_a_few_lora_steps_raise_exact_match_on_taught_answers_above_the_base_model(base, tuned):
    adapter, taught = tuned
    prompts, refs = taught["prompt"][:8], taught["response"][:8]
    base_model, tok = base
    before = exact_match(generate(base_model, tok, prompts, max_new_tokens=answer_budget(tok, refs)), refs)
    model, tok = adapter.load()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        after = exact_match(generate(model, tok, prompts, max_new_tokens=answer_budget(tok, refs)), refs)
    assert after > before
    assert adapter.metrics["eval"][-1]["exact_match"] == after  # evaluation reports the same figure
    losses = [e["loss"] for e in adapter.metrics["eval"]]
    assert losses[-1] < losses[0] and adapter.metrics["eval"][-1]["perplexity"] > 1


def test_llama_default_targets_and_provenance(tuned):
    adapter, _ = tuned
    config = read_json(adapter.adapter_dir / "adapter_config.json")
    assert config["target_modules"] == sorted(ARCH_TARGET_MODULES["llama"])
    prov = adapter.provenance
    assert prov["base_model"]["name"] == ALIAS and prov["base_model"]["weight_hash"] == base_weight_hash(ALIAS)
    assert prov["precision"] == "bf16" and prov["data"]["train_examples"] == 16


def test_the_adapter_hash_does_not_depend_on_where_the_model_cache_lives(tmp_path, monkeypatch):
    """The converted base is found under two different $OLAB_CACHE_DIRs: the adapters hash alike, and the base
    they record is the Hub id (olab loads the alias and checks its weight hash), not either cache path."""
    built = Path(resolve_base_model(ALIAS))
    rows = instructions(4, seed=5)
    cfg = CFG | {"epochs": 1, "batch_size": 4, "eval_fraction": 0}
    adapters = []
    for cache in ("one", "another/cache"):
        models = tmp_path / cache / "models"
        models.mkdir(parents=True)
        (models / built.name).symlink_to(built)  # the same converted weights, under another cache directory
        monkeypatch.setenv("OLAB_CACHE_DIR", str(tmp_path / cache))
        adapters.append(finetune(rows, [], cfg, tmp_path / cache / "adapter", progress=False))
    assert {a.provenance["base_model"]["source"] for a in adapters} == {
        str(tmp_path / c / "models" / built.name) for c in ("one", "another/cache")
    }
    assert adapters[0].hash == adapters[1].hash
    config = read_json(adapters[1].adapter_dir / "adapter_config.json")
    assert config["base_model_name_or_path"] == "HuggingFaceTB/SmolLM2-135M-Instruct"
