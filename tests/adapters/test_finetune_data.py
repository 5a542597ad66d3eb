"""The shared batching: what training and attribution feed the model."""

from __future__ import annotations

import pytest
import torch

from olab.adapters import encode, iter_batches, load_base_model
from olab.adapters.data import batch_indices


@pytest.fixture(scope="module")
def minilm_tokenizer():
    from transformers import AutoTokenizer

    from olab.adapters import resolve_base_model

    return AutoTokenizer.from_pretrained(resolve_base_model("all-MiniLM-L6-v2"))


TEXTS = ["a short one", "a much longer sentence that goes on and on and on about nothing at all", "mid length text"]


def test_classification_batch_pads_truncates_and_carries_labels(minilm_tokenizer):
    batch = encode(minilm_tokenizer, TEXTS, [2, 0, 1], "classification", max_length=8)
    assert set(batch) == {"input_ids", "attention_mask", "labels"}
    assert batch["input_ids"].shape == batch["attention_mask"].shape == (3, 8)
    assert batch["labels"].tolist() == [2, 0, 1] and batch["labels"].dtype == torch.long
    assert batch["attention_mask"][1].all() and not batch["attention_mask"][0].all()  # truncated vs padded
    assert "labels" not in encode(minilm_tokenizer, TEXTS, None, "classification", 8)
    with pytest.raises(ValueError, match="3 texts but 2 labels"):
        encode(minilm_tokenizer, TEXTS, [0, 1], "classification", 8)


def test_causal_labels_are_the_tokens_with_padding_ignored():
    _, tok = load_base_model("tiny-gpt2", "causal_lm")
    batch = encode(tok, ["hello", "hi"], None, "causal_lm", max_length=16)
    ids, mask, labels = batch["input_ids"], batch["attention_mask"], batch["labels"]
    assert ids.shape == (2, 5) and mask[1].tolist() == [1, 1, 0, 0, 0]
    assert torch.equal(labels[mask == 1], ids[mask == 1])
    assert (labels[mask == 0] == -100).all()


def test_batch_order_is_fixed_by_the_seed():
    assert batch_indices(5, 2) == [[0, 1], [2, 3], [4]]
    a = batch_indices(50, 8, shuffle=True, seed=3)
    assert a == batch_indices(50, 8, shuffle=True, seed=3)
    assert a != batch_indices(50, 8, shuffle=True, seed=4)
    assert sorted(i for b in a for i in b) == list(range(50)) and [len(b) for b in a] == [8] * 6 + [2]


def test_iter_batches_yields_each_row_once_encoded_as_alone(minilm_tokenizer):
    labels = [0, 1, 2]
    seen = []
    for idx, batch in iter_batches(minilm_tokenizer, TEXTS, labels, "classification", 32, 2, shuffle=True, seed=1):
        seen += idx
        assert batch["labels"].tolist() == [labels[i] for i in idx]
        for row, i in enumerate(idx):
            alone = encode(minilm_tokenizer, [TEXTS[i]], None, "classification", 32)["input_ids"][0]
            assert batch["input_ids"][row, : len(alone)].tolist() == alone.tolist()
    assert sorted(seen) == [0, 1, 2]
