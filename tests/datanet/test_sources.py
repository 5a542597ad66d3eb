"""load_source: every kind of `datasets` source normalised to text/label(/contributor/id) string columns."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import fsspec
import pytest

from olab.datanet import ColumnsConfig, SourceConfig, load_source
from olab.errors import ConfigError, DatanetError


def test_agnews_tsv_through_datasets_keeps_quotes(agnews_dev: Path):
    src = SourceConfig(kind="files", data_files=str(agnews_dev), column_names=["text", "label"])
    ds = load_source(src, ColumnsConfig())
    raw = agnews_dev.read_text().splitlines()
    assert len(ds) == len(raw) == 10001
    assert ds.column_names == ["text", "label"]
    assert set(ds["label"]) == {"World", "Sports", "Business", "Sci/Tech"}
    quoted = next(i for i, line in enumerate(raw) if '"' in line)
    assert ds[quoted]["text"] == raw[quoted].rsplit("\t", 1)[0]  # TSV has no quoting: quotes stay in the text


def test_shuffle_and_max_records_are_deterministic(agnews_dev: Path):
    src = SourceConfig(
        kind="files", data_files=str(agnews_dev), column_names=["text", "label"], shuffle_seed=3, max_records=20
    )
    a, b = load_source(src), load_source(src)
    assert len(a) == 20 and a["text"] == b["text"]
    unshuffled = load_source(src.model_copy(update={"shuffle_seed": None}))
    assert a["text"] != unshuffled["text"]


def test_csv_json_parquet_with_column_mapping(tmp_path: Path):
    rows = [{"body": f"text {i}", "y": "a" if i % 2 else "b", "who": f"user{i % 3}", "key": 100 + i} for i in range(6)]
    datasets.Dataset.from_list(rows).to_csv(str(tmp_path / "d.csv"), index=False)
    (tmp_path / "d.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    datasets.Dataset.from_list(rows).to_parquet(str(tmp_path / "d.parquet"))
    cols = ColumnsConfig(text="body", label="y", contributor="who", id="key")
    for name in ("d.csv", "d.jsonl", "d.parquet"):
        ds = load_source(SourceConfig(kind="files", data_files=str(tmp_path / name)), cols)
        assert ds.column_names == ["text", "label", "contributor", "id"], name
        assert ds[4] == {"text": "text 4", "label": "b", "contributor": "user1", "id": "104"}, name


def test_fsspec_memory_url():
    with fsspec.open("memory://olab-test-src/data.csv", "w") as f:
        f.write("text,label\nhello there,A\ngeneral kenobi,B\n")
    ds = load_source(SourceConfig(kind="files", data_files="memory://olab-test-src/data.csv"))
    assert ds["text"] == ["hello there", "general kenobi"]


def test_in_memory_dataset_and_dataset_dict_with_class_labels():
    features = datasets.Features({"t": datasets.Value("string"), "y": datasets.ClassLabel(names=["neg", "pos"])})
    train = datasets.Dataset.from_dict({"t": ["good", "bad", "fine"], "y": [1, 0, 1]}, features=features)
    ds = load_source(SourceConfig(), ColumnsConfig(text="t", label="y"), dataset=train)
    assert ds["label"] == ["pos", "neg", "pos"]
    dd = datasets.DatasetDict({"train": train, "test": train.select([0])})
    assert len(load_source(SourceConfig(split="test"), ColumnsConfig(text="t", label="y"), dataset=dd)) == 1
    with pytest.raises(ConfigError, match=r"source.split is 'dev', but the source's splits are \['test', 'train'\]"):
        load_source(SourceConfig(split="dev"), ColumnsConfig(text="t", label="y"), dataset=dd)


def test_missing_column_names_it_and_the_existing_ones():
    ds = datasets.Dataset.from_dict({"sentence": ["x"], "label": ["a"]})
    with pytest.raises(
        ConfigError, match=r"columns.text: the source has no column 'text'; its columns are \['sentence', 'label'\]"
    ):
        load_source(SourceConfig(), ColumnsConfig(), dataset=ds)


def test_synthetic_source_is_deterministic():
    a = load_source(SourceConfig(kind="synthetic", n=12, seed=5))
    assert len(a) == 12 and a["text"] == load_source(SourceConfig(kind="synthetic", n=12, seed=5))["text"]
    assert a["text"] != load_source(SourceConfig(kind="synthetic", n=12, seed=6))["text"]


def test_hub_kind_loads_a_dataset_repository_layout(tmp_path: Path):
    """kind "hub" calls load_dataset(path, name, revision=...): a local dataset repo takes the Hub's place offline."""
    repo = tmp_path / "repo"
    (repo / "data").mkdir(parents=True)
    datasets.Dataset.from_dict({"text": ["a b", "c d"], "label": ["x", "y"]}).to_parquet(
        str(repo / "data" / "train.parquet")
    )
    ds = load_source(SourceConfig(kind="hub", path=str(repo)))
    assert ds["text"] == ["a b", "c d"]
    with pytest.raises(DatanetError, match=r"could not load hub dataset .*Unknown split"):
        load_source(SourceConfig(kind="hub", path=str(repo), split="validation"))


def test_unreadable_source_is_a_datanet_error(tmp_path: Path):
    with pytest.raises(DatanetError, match="could not load csv files"):
        load_source(SourceConfig(kind="files", data_files=str(tmp_path / "nope.csv")))
    with pytest.raises(DatanetError, match=r"could not load hub dataset '.*/missing-repo'"):
        load_source(SourceConfig(kind="hub", path=str(tmp_path / "missing-repo")))


def test_label_names_name_integer_labels_from_a_list_or_a_mapping(tmp_path: Path):
    (tmp_path / "r.tsv").write_text("text\tlabel\ngreat kettle\t1\nbroken lamp\t0\nfine chair\t1\n")
    src = SourceConfig(kind="files", data_files=str(tmp_path / "r.tsv"))
    as_list = load_source(src, ColumnsConfig(label_names=["negative", "positive"]))
    assert as_list["label"] == ["positive", "negative", "positive"]
    as_mapping = load_source(src, ColumnsConfig.model_validate({"label_names": {0: "bad", 1: "good"}}))
    assert as_mapping["label"] == ["good", "bad", "good"]
    assert load_source(src)["label"] == ["1", "0", "1"]  # without names the values are the labels
    with pytest.raises(
        ConfigError, match=r"label_names names the label values \['0'\], but the label column also holds \['1'\]"
    ):
        load_source(src, ColumnsConfig(label_names=["negative"]))
    with pytest.raises(ValueError, match="label_names must be distinct"):
        ColumnsConfig(label_names=["same", "same"])


def test_relative_data_files_resolve_against_the_config_file_not_the_working_directory(tmp_path, monkeypatch):
    from olab.pipeline.config import load_config

    project = tmp_path / "project"
    (project / "data").mkdir(parents=True)
    (project / "data" / "train.tsv").write_text("text\tlabel\na\tx\n")
    (project / "run.yaml").write_text(
        "datanet:\n  source: {kind: files, data_files: data/train.tsv}\n"
        "targets:\n  source: {kind: files, data_files: [data/*.tsv, /abs/t.tsv, 's3://b/t.tsv']}\n"
    )
    monkeypatch.chdir(tmp_path)  # elsewhere
    cfg = load_config(project / "run.yaml", {"targets": {"source": {"split": "train"}}})
    assert cfg.datanet.source.data_files == str(project / "data" / "train.tsv")
    assert cfg.targets.source.data_files == [str(project / "data" / "*.tsv"), "/abs/t.tsv", "s3://b/t.tsv"]
    assert load_source(cfg.datanet.source)["text"] == ["a"]
    override = load_config(project / "run.yaml", {"datanet": {"source": {"data_files": "mine.tsv"}}})
    assert override.datanet.source.data_files == "mine.tsv"  # a --set value is the user's, as typed
