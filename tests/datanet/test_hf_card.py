"""A Datanet directory is a Hugging Face dataset repo: `load_dataset(<dir>)` gives the latest version's records
with `label` a ClassLabel over the Datanet's label names, and each version loads by name."""

from __future__ import annotations

from pathlib import Path

from datasets import ClassLabel, load_dataset
from huggingface_hub import DatasetCard

from olab.datanet import Datanet, sign_batch

NEW = [{"text": "Robotics startup unveils a warehouse picking arm", "label": "Sci/Tech"}]


def test_load_dataset_reads_the_latest_version_with_class_labels(small: Datanet, signers):
    first = small.to_hf()
    small.submit(sign_batch(signers[0], small, NEW, nonce=1))
    latest = load_dataset(str(small.path), split="train")
    assert small.version == 2 and len(latest) == len(small) == len(first) + 1
    label = latest.features["label"]
    assert isinstance(label, ClassLabel) and label.names == small.labels
    assert [label.int2str(i) for i in latest["label"]] == small.to_hf()["label"]
    assert latest["record_hash"] == small.to_hf()["record_hash"]
    v1 = load_dataset(str(small.path), "v0001", split="train")
    assert v1["record_id"] == first["record_id"] and len(v1) == len(first)


def test_the_card_names_each_version_and_its_root(small: Datanet, signers):
    small.submit(sign_batch(signers[0], small, NEW, nonce=1))
    card = DatasetCard.load(Path(small.path) / "README.md")
    assert [c["config_name"] for c in card.data.configs] == ["default", "v0001", "v0002"]
    assert small.root in card.text and Datanet.open(small.path, 1).root in card.text
