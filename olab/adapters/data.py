"""Turning texts (and label ids) into model batches: one encoder and one batch order for training and attribution.

Attribution must see exactly the tensors training saw, so both call `encode` / `iter_batches` from here.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import torch

from olab.adapters.chat import Pair, encode_pairs
from olab.adapters.models import Task

Example = str | Pair  # a text, or an instruction record (prompt, response) for causal_lm


def encode(
    tokenizer: Any,
    texts: Sequence[Example],
    labels: Sequence[int] | None,
    task: Task,
    max_length: int,
) -> dict[str, torch.Tensor]:
    """Tokenize `texts` (truncated to `max_length`, padded to the longest) into input_ids, attention_mask, labels.

    classification: labels are the class ids (left out when `labels` is None, for prediction);
    causal_lm: labels are the input ids with padding set to -100, so the loss covers real tokens only;
    for (prompt, response) pairs, chat-formatted with labels on the response tokens only (`chat.encode_pairs`).
    """
    if task == "causal_lm" and texts and isinstance(texts[0], tuple):
        return encode_pairs(tokenizer, texts, max_length)  # type: ignore[arg-type]
    enc = tokenizer(list(texts), padding="longest", truncation=True, max_length=max_length, return_tensors="pt")
    batch = {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}
    if task == "causal_lm":
        batch["labels"] = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
    elif labels is not None:
        if len(labels) != len(texts):
            raise ValueError(f"encode: {len(texts)} texts but {len(labels)} labels")
        batch["labels"] = torch.tensor(list(labels), dtype=torch.long)
    return batch


def batch_indices(n: int, batch_size: int, *, shuffle: bool = False, seed: int = 0) -> list[list[int]]:
    """Row indices of each batch: in order, or a permutation fixed by `seed` (same seed, same batches)."""
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist() if shuffle else list(range(n))
    return [order[i : i + batch_size] for i in range(0, n, batch_size)]


def iter_batches(
    tokenizer: Any,
    texts: Sequence[Example],
    labels: Sequence[int] | None,
    task: Task,
    max_length: int,
    batch_size: int,
    *,
    shuffle: bool = False,
    seed: int = 0,
) -> Iterator[tuple[list[int], dict[str, torch.Tensor]]]:
    """Yield (row indices, encoded batch) over the examples, deterministically."""
    for idx in batch_indices(len(texts), batch_size, shuffle=shuffle, seed=seed):
        batch_labels = None if labels is None else [labels[i] for i in idx]
        yield idx, encode(tokenizer, [texts[i] for i in idx], batch_labels, task, max_length)
