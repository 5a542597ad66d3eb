"""The datanet config section: defaults, documented fields, and errors that name the field and what is allowed."""

from __future__ import annotations

from pathlib import Path

import pytest

from olab.config import validate
from olab.datanet import DatanetConfig, resolve_config
from olab.datanet.config import BehaviourConfig, ColumnsConfig, ContributorsConfig, SourceConfig, ValidationConfig
from olab.errors import ConfigError


def test_defaults_make_a_working_offline_config():
    cfg = DatanetConfig()
    assert cfg.source.kind == "synthetic" and cfg.contributors.mode == "simulate"
    assert cfg.path == "datanets/quickstart" and cfg.chain_id == 161201 and cfg.policy == "auto_accept"


@pytest.mark.parametrize(
    "model", [DatanetConfig, SourceConfig, ColumnsConfig, ContributorsConfig, BehaviourConfig, ValidationConfig]
)
def test_every_field_is_documented(model):
    for name, field in model.model_fields.items():
        assert field.description, f"{model.__name__}.{name} has no description"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"source": {"kind": "files"}}, "needs source.data_files"),
        ({"source": {"kind": "files", "data_files": "x.dat"}}, "set source.format to one of csv, tsv, json, parquet"),
        ({"source": {"kind": "hub"}}, "needs source.path"),
        ({"source": {"kind": "ftp"}}, "source.kind"),
        ({"contributors": {"mode": "column"}}, "needs columns.contributor"),
        (
            {"contributors": {"n": 2, "behaviours": [{"contributor": 5, "kind": "off_topic", "rate": 0.1}]}},
            "contributors are 0..1",
        ),
        ({"contributors": {"behaviours": [{"contributor": 0, "kind": "off_topic", "rate": 1.5}]}}, "behaviours.0.rate"),
        ({"contributors": {"behaviours": [{"contributor": 0, "kind": "loud"}]}}, "behaviours.0.kind"),
        ({"name": "../escape"}, "name must be"),
        ({"labels": ["a", "a"]}, "without repeats"),
        ({"validation": {"min_chars": 10, "max_chars": 5}}, "exceeds validation.max_chars"),
        ({"polcy": "review"}, "polcy: unknown key"),
    ],
)
def test_bad_config_names_the_field(data, expected):
    with pytest.raises(ConfigError, match="(?s)" + expected.replace(".", r"\.").replace("(", r"\(")):
        validate(DatanetConfig, data)


def test_format_is_inferred_from_the_extension():
    assert SourceConfig(kind="files", data_files="a/b.tsv").resolved_format() == "tsv"
    assert SourceConfig(kind="files", data_files=["x.jsonl"]).resolved_format() == "json"
    assert SourceConfig(kind="files", data_files={"train": "x.parquet"}).resolved_format() == "parquet"
    assert SourceConfig(kind="files", data_files="x.txt", format="csv").resolved_format() == "csv"


def test_yaml_with_a_datanet_section_and_overrides(tmp_path: Path):
    path = tmp_path / "run.yaml"
    path.write_text("run:\n  name: x\ndatanet:\n  name: from-run\n  source:\n    n: 10\n")
    cfg = resolve_config(path, {"datanet": {"source": {"seed": 4}}})
    assert (cfg.name, cfg.source.n, cfg.source.seed) == ("from-run", 10, 4)
    section = tmp_path / "datanet.yaml"
    section.write_text("name: plain\ncontributors:\n  n: 2\n")
    assert resolve_config(section, {"contributors": {"seed": 3}}).contributors.seed == 3
    section.write_text("name: plain\ncontributors:\n  nn: 2\n")
    with pytest.raises(ConfigError, match=r"contributors\.nn: unknown key"):
        resolve_config(section)
