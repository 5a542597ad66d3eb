"""Every shipped config loads through the typed models the code uses, and says what it means consistently."""

from __future__ import annotations

from pathlib import Path

import pytest
from repo_paths import REPO

from olab.pipeline.config import load_config

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
