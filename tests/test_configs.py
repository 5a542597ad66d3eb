"""Every shipped config loads through the typed models the code uses, and says what it means consistently."""

from __future__ import annotations

import re
import typing
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel
from repo_paths import REPO

from olab.pipeline.config import RunConfig, load_config

CONFIGS = sorted((REPO / "configs").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_config_loads_and_attributes_at_the_length_it_fine_tunes_at(path: Path):
    cfg = load_config(path)
    assert cfg.attribution.max_length == cfg.finetune.max_length, "attribution would see other inputs than training"


def test_local_files_config_finds_its_data_from_any_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = load_config(REPO / "configs" / "local_files.yaml")
    for source in (cfg.datanet.source, cfg.targets.source):
        assert Path(source.data_files).is_file(), source.data_files
    assert cfg.targets.columns.label_names == cfg.datanet.columns.label_names == ["negative", "positive"]


NOTEBOOK_CONFIGS = sorted((REPO / "notebooks").glob("*.yaml"))
DEFAULT = re.compile(r"\(default(?P<rest>[^)]*)\)")
KEY = re.compile(r"^(?P<indent>\s*)(?P<key>[\w-]+):\s*(?P<value>[^#]*?)\s*(?:#(?P<comment>.*))?$")
MEANS_NOTHING = {"none", "all"}  # "(default: none)", "(default: all)": unset, nothing filtered


@pytest.mark.parametrize("path", NOTEBOOK_CONFIGS, ids=lambda p: p.name)
def test_notebook_sizes_load_through_the_run_config(path: Path):
    load_config(path)


def commented_defaults(path: Path) -> list[tuple[str, object, str]]:
    """(dotted key, the default its comment states, the line) for every `key: value  # ... (default: X)`;
    `(default)` or `(default; ...)` states that the value shown is the default."""
    found, stack = [], []
    for line in path.read_text().splitlines():
        m = KEY.match(line)
        if not m:
            continue
        indent = len(m["indent"])
        stack = [(i, k) for i, k in stack if i < indent] + [(indent, m["key"])]
        d = DEFAULT.search(m["comment"] or "")
        if not d:
            continue
        rest = d["rest"].strip()
        if not rest or rest.startswith(";"):
            stated = yaml.safe_load(m["value"])
        else:
            text = re.match(r"\s*(\[[^\]]*\]|[^,;]*)", rest.removeprefix(":"))[1].strip()
            # a default told in words ("no shuffle", "from the extension") is what an unset (None) value does
            words = text in MEANS_NOTHING or (" " in text and not text.startswith("["))
            stated = None if words else yaml.safe_load(text)
        found.append((".".join(k for _, k in stack), stated, line.strip()))
    return found


def model_default(model: type[BaseModel], dotted: str) -> object:
    """The default the typed config model gives `dotted` (nested sections walked through their field types)."""
    *sections, leaf = dotted.split(".")
    for name in sections:
        annotation = model.model_fields[name].annotation
        model = next(
            t for t in (annotation, *typing.get_args(annotation)) if isinstance(t, type) and issubclass(t, BaseModel)
        )
    value = model.model_fields[leaf].get_default(call_default_factory=True)
    return value.model_dump(mode="json") if isinstance(value, BaseModel) else value


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_commented_default_is_the_models_default(path: Path):
    wrong = []
    for dotted, stated, line in commented_defaults(path):
        actual = model_default(RunConfig, dotted)
        if stated != actual and not (stated is None and actual in ([], {})):
            wrong.append(f"{dotted}: the comment says {stated!r}, the model's default is {actual!r}  ({line})")
    assert not wrong, "\n".join(wrong)
