"""An adapter trained without olab (plain PEFT on a transformers model) is wrapped by `Adapter.from_peft` and
attributed like one olab trained: same predictions after the wrap, a complete score matrix."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from datasets import Dataset

from olab.adapters import Adapter, resolve_base_model
from olab.attribution import attribute
from olab.errors import ConfigError

LABELS = ["neg", "pos"]
WORDS = ["good", "bad", "great", "awful", "fine", "poor", "nice", "sad"]


def texts(n: int, seed: int) -> Dataset:
    rng = np.random.default_rng(seed)
    rows = [" ".join(rng.choice(WORDS, size=5)) for _ in range(n)]
    return Dataset.from_dict({"text": rows, "label": [LABELS[int("good" in r or "great" in r)] for r in rows]})


@pytest.fixture(scope="module")
def peft_trained(tmp_path_factory):
    """A LoRA classifier trained with plain PEFT and torch on the in-code tiny GPT-2, saved by save_pretrained."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    torch.manual_seed(0)
    base = resolve_base_model("tiny-gpt2")
    tokenizer = AutoTokenizer.from_pretrained(base)
    tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForSequenceClassification.from_pretrained(base, num_labels=2)
    model.config.pad_token_id = tokenizer.pad_token_id
    model = get_peft_model(model, LoraConfig(task_type="SEQ_CLS", r=4, target_modules=["c_attn"]))
    train = texts(16, seed=0)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    batch = tokenizer(list(train["text"]), padding=True, return_tensors="pt")
    labels = torch.tensor([LABELS.index(x) for x in train["label"]])
    for _ in range(3):
        model(**batch, labels=labels).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    out = tmp_path_factory.mktemp("peft") / "adapter"
    model.save_pretrained(out)
    return model.eval(), tokenizer, out, train


def test_a_plain_peft_adapter_is_wrapped_and_attributed(peft_trained, tmp_path):
    model, tokenizer, peft_dir, train = peft_trained
    adapter = Adapter.from_peft(peft_dir, tmp_path / "wrapped", labels=LABELS)
    assert (adapter.task, adapter.labels) == ("classification", LABELS) and adapter.checkpoints == []
    assert adapter.provenance["imported_from"] == str(peft_dir.resolve())

    loaded, _ = adapter.load()
    batch = tokenizer(["good nice fine", "awful sad poor"], padding=True, return_tensors="pt")
    with torch.no_grad():
        assert torch.allclose(loaded(**batch).logits, model(**batch).logits, atol=1e-5)

    targets = texts(4, seed=1)
    result = attribute(adapter, train, targets, {"batch_size": 8, "max_length": 16, "proj_dim": 64}, tmp_path / "a",
                       progress=False)  # fmt: skip
    assert result.scores.shape == (16, 4) and np.isfinite(result.scores).all() and np.abs(result.scores).max() > 0

    in_memory = Adapter.from_peft(model, tmp_path / "from-model", labels=LABELS)
    assert in_memory.hash == adapter.hash  # the same weights, saved from the model instead of copied


def test_wrapping_refuses_what_it_cannot_attribute(peft_trained, tmp_path):
    _, _, peft_dir, _ = peft_trained
    with pytest.raises(ConfigError, match=r"needs labels=\[\.\.\.\], its class names in id order"):
        Adapter.from_peft(peft_dir, tmp_path / "a")
    with pytest.raises(ConfigError, match=r"is not a PEFT adapter directory \(no adapter_config.json\)"):
        Adapter.from_peft(tmp_path, tmp_path / "b", labels=LABELS)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
