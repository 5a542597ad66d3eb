"""Helpers for the fine-tuning tests: AG News rows loaded through `datasets`, a fast tiny-model config."""

from __future__ import annotations

import pytest
from datasets import Dataset, load_dataset
from repo_paths import AGNEWS

LABELS = ["World", "Sports", "Business", "Sci/Tech"]


def agnews(split: str, start: int, n: int) -> Dataset:
    """Rows [start, start+n) of ../shared/data/agnews/<split>.tsv, read as a user would read hub data."""
    if not AGNEWS.is_dir():
        pytest.skip(f"needs the AG News TSVs in {AGNEWS}")
    ds = load_dataset(
        "csv", data_files=str(AGNEWS / f"{split}.tsv"), delimiter="\t", column_names=["text", "label"], split="train"
    )
    return ds.select(range(start, start + n))


def tiny_cfg(**overrides) -> dict:
    """A fine-tune of the in-code 2-layer GPT-2 that takes a second or two."""
    base = {
        "base_model": "tiny-gpt2",
        "task": "classification",
        "epochs": 2,
        "batch_size": 8,
        "max_length": 32,
        "checkpoints": 2,
        "learning_rate": 1e-2,
        "lora": {"target_modules": ["c_attn"]},
    }
    return base | overrides
