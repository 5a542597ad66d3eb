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
    assert [label.int2str(i) for i in latest["label"]] == small.to_pandas()["label"].tolist()
    assert latest["record_hash"] == small.to_hf()["record_hash"]
    v1 = load_dataset(str(small.path), "v0001", split="train")
    assert v1["record_id"] == first["record_id"] and len(v1) == len(first)


def test_the_card_names_each_version_and_its_root(small: Datanet, signers):
    small.submit(sign_batch(signers[0], small, NEW, nonce=1))
    card = DatasetCard.load(Path(small.path) / "README.md")
    assert [c["config_name"] for c in card.data.configs] == ["default", "v0001", "v0002"]
    assert small.root in card.text and Datanet.open(small.path, 1).root in card.text


def test_to_hf_gives_the_label_as_a_class_label_like_load_dataset(small: Datanet):
    ds = small.to_hf()
    label = ds.features["label"]
    assert isinstance(label, ClassLabel) and label.names == small.labels
    assert [label.int2str(i) for i in ds["label"]] == small.to_pandas()["label"].tolist()
    assert ds.features == load_dataset(str(small.path), split="train").features
    assert ds["record_id"] == small.to_pandas()["record_id"].tolist()


def test_instruction_records_keep_their_responses_as_text(tmp_path: Path):
    qa = Datanet.build(
        {"name": "qa", "root_dir": str(tmp_path), "source": {"kind": "synthetic", "generator": "instructions", "n": 12},
         "contributors": {"mode": "simulate", "n": 2, "seed": 0}},
        progress=False,
    )  # fmt: skip
    ds = qa.to_hf()
    assert ds.features["label"].dtype == "string" and ds["label"] == qa.to_pandas()["label"].tolist()
    assert load_dataset(str(qa.path), split="train")["label"] == ds["label"]
