"""The `finetune` config section: documented defaults, and errors that name the field."""

from __future__ import annotations

import pytest
import yaml
from pydantic import BaseModel

from olab.adapters import FinetuneConfig
from olab.config import config_hash, validate
from olab.errors import ConfigError


def _fields(model: type[BaseModel], prefix: str = ""):
    for name, field in model.model_fields.items():
        yield prefix + name, field
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            yield from _fields(ann, prefix + name + ".")


def test_every_field_is_documented():
    undocumented = [name for name, f in _fields(FinetuneConfig) if not (f.description or "").strip()]
    assert undocumented == []


def test_defaults_fit_the_offline_minilm_and_yaml_round_trips():
    cfg = FinetuneConfig()
    assert cfg.base_model == "all-MiniLM-L6-v2" and cfg.task == "classification"
    assert cfg.lora.target_modules == ["query", "value"]
    assert cfg.device == "auto" and cfg.precision == "auto"
    again = validate(FinetuneConfig, yaml.safe_load(yaml.safe_dump(cfg.model_dump(mode="json"))))
    assert again == cfg and config_hash(again) == config_hash(cfg)


def test_default_lists_are_not_shared_between_configs():
    a, b = FinetuneConfig(), FinetuneConfig()
    a.lora.target_modules.append("key")
    assert b.lora.target_modules == ["query", "value"]


def test_all_linear_is_accepted_and_changes_the_hash():
    cfg = validate(FinetuneConfig, {"lora": {"target_modules": "all-linear"}})
    assert cfg.lora.target_modules == "all-linear"
    assert config_hash(cfg) != config_hash(FinetuneConfig())


@pytest.mark.parametrize(
    ("data", "path"),
    [
        ({"lora": {"r": 0}}, "lora.r"),
        ({"lora": {"target_modules": []}}, "lora"),
        ({"lora": {"target_modules": "everything"}}, "lora.target_modules"),
        ({"lora": {"dropout": 1.5}}, "lora.dropout"),
        ({"task": "regression"}, "task"),
        ({"device": "tpu"}, "device"),
        ({"precision": "int8"}, "precision"),
        ({"eval_fraction": 1.0}, "eval_fraction"),
        ({"checkpoints": 0}, "checkpoints"),
        ({"learning_rate": 0}, "learning_rate"),
        ({"epochs": 0}, "epochs"),
        ({"lora_rank": 8}, "lora_rank"),
    ],
)
def test_bad_values_name_the_field(data, path):
    with pytest.raises(ConfigError) as err:
        validate(FinetuneConfig, data, source="finetune")
    assert f"  - {path}" in str(err.value)
