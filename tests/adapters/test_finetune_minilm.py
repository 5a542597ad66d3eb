"""Fine-tuning the real packaged all-MiniLM-L6-v2 on AG News: it learns, its checkpoints load, its provenance is
complete. One shared fine-tune (128 examples of 32 tokens, 2 epochs) keeps this to about 20 s of compute on
2 cores (several minutes when the machine is heavily oversubscribed)."""

from __future__ import annotations

import json

import peft
import pytest
import torch
import transformers
from ft_helpers import LABELS, agnews
from safetensors import safe_open

from olab.adapters import Adapter, FinetuneConfig, base_weight_hash, finetune, resolve_base_model
from olab.adapters.train import evaluate, read_examples
from olab.config import config_hash
from olab.hashing import hash_json, sha256_dir, sha256_file

pytestmark = pytest.mark.slow

CFG = FinetuneConfig(epochs=2, learning_rate=1e-2, batch_size=16, max_length=32, checkpoints=2)
DATANET = {"datanet": {"name": "agnews-dev", "version": 1, "root": "0x" + "ab" * 32}}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    train, held_out = agnews("dev", 0, 128), agnews("dev", 5000, 64)
    events = []
    adapter = finetune(
        train, LABELS, CFG, tmp_path_factory.mktemp("ft") / "minilm", eval=held_out, provenance=DATANET,
        progress=events.append,
    )  # fmt: skip
    return adapter, train, held_out, events


def test_loss_falls_and_held_out_accuracy_beats_chance(run):
    adapter, _, _, events = run
    losses = [e["loss"] for e in adapter.metrics["train"]]
    assert len(losses) == 16 == adapter.metrics["total_steps"]
    assert sum(losses[-4:]) / 4 < sum(losses[:4]) / 4 - 0.2, losses
    evals = adapter.metrics["eval"]
    assert [e["epoch"] for e in evals] == [1, 2] and evals[1]["loss"] < evals[0]["loss"]
    assert evals[-1]["accuracy"] >= 0.6, evals  # chance is 0.25 on 4 balanced-ish classes, 64 rows
    shown = [(e.done, dict(e.metrics)) for e in events if e.kind == "eval"]
    assert shown == [(e["step"], {k: v for k, v in e.items() if k != "step"}) for e in evals]


def test_adapter_reloads_to_the_reported_accuracy_and_generalises(run):
    adapter, _, held_out, _ = run
    model, tok = adapter.load()
    assert type(model).__name__ == "PeftModelForSequenceClassification" and not model.training
    assert model.config.id2label == dict(enumerate(LABELS))
    texts, labels = read_examples(held_out, LABELS, "classification", "eval")
    again = evaluate(model, tok, texts, labels, CFG, device=model.device)
    assert again["accuracy"] == adapter.metrics["eval"][-1]["accuracy"]
    assert again["loss"] == pytest.approx(adapter.metrics["eval"][-1]["loss"], rel=1e-5)
    unseen = agnews("test", 0, 64)  # another split the run never saw
    unseen_result = evaluate(model, tok, *read_examples(unseen, LABELS, "classification", "test"), CFG, model.device)
    assert unseen_result["accuracy"] >= 0.6, unseen_result


def test_checkpoints_load_and_differ_from_the_final_adapter(run):
    adapter, _, held_out, _ = run
    assert [c.name for c in adapter.checkpoints] == ["ckpt-8", "ckpt-16"]
    for name in ("adapter_config.json", "adapter_model.safetensors"):  # the final adapter is the last checkpoint
        assert sha256_file(adapter.checkpoints[-1] / name) == sha256_file(adapter.adapter_dir / name)
    first, tok = adapter.load(adapter.checkpoints[0])
    final, _ = adapter.load()
    batch = tok(list(held_out["text"][:8]), padding=True, truncation=True, max_length=32, return_tensors="pt")
    with torch.no_grad():
        a, b = first(**batch).logits, final(**batch).logits
    assert a.shape == b.shape == (8, 4) and not torch.allclose(a, b)
    with safe_open(adapter.adapter_dir / "adapter_model.safetensors", "pt") as f:
        keys = list(f.keys())
    assert any("classifier" in k for k in keys) and sum("lora_A" in k for k in keys) == 12  # 6 layers x q, v


def test_provenance_ties_the_adapter_to_its_base_data_and_recipe(run):
    adapter, train, held_out, _ = run
    p = adapter.provenance
    weights = resolve_base_model("all-MiniLM-L6-v2") + "/model.safetensors"
    assert p["base_model"]["name"] == "all-MiniLM-L6-v2"
    assert p["base_model"]["weight_hash"] == base_weight_hash("all-MiniLM-L6-v2")
    assert p["base_model"]["weight_hash"] == hash_json({"model.safetensors": sha256_file(weights)})
    assert p["config"] == CFG.model_dump(mode="json") and p["config_hash"] == config_hash(CFG)
    assert p["datanet"] == DATANET["datanet"]
    assert p["task"] == "classification" and p["labels"] == LABELS and p["seed"] == 0
    assert p["device"] == "cpu" and p["precision"] == "fp32"
    assert p["versions"]["torch"] == torch.__version__ and p["versions"]["transformers"] == transformers.__version__
    assert p["versions"]["peft"] == peft.__version__
    texts, ids = read_examples(train, LABELS, "classification", "train")
    assert p["data"]["train_hash"] == hash_json([texts, ids]) and p["data"]["train_examples"] == 128
    assert p["data"]["eval_examples"] == len(held_out) and p["data"]["eval_source"] == "given"
    assert p["adapter_hash"] == sha256_dir(adapter.adapter_dir)
    assert json.loads((adapter.path / "labels.json").read_text()) == LABELS
    reopened = Adapter.open(adapter.path)
    assert reopened.hash == adapter.hash and reopened.provenance == p and reopened.metrics == adapter.metrics
