"""`olab.notebook_config`: the notebooks' one-call config (size, work directory, AG News) and its env defaults."""

from __future__ import annotations

import pytest
from repo_paths import REPO

import olab
from olab.errors import ConfigError

NOTEBOOKS = REPO / "notebooks"


def test_sizes_work_directory_and_agnews(tmp_path, monkeypatch):
    for key in ("OLAB_NOTEBOOK_SIZE", "OLAB_NOTEBOOK_DIR", "OLAB_AGNEWS_DIR"):
        monkeypatch.delenv(key, raising=False)
    small = olab.notebook_config(notebooks_dir=NOTEBOOKS)  # the default size, offline synthetic data
    assert small.run.name == "notebooks-small" and small.datanet.source.kind == "synthetic"
    assert small.run.runs_dir == f"{NOTEBOOKS / '../runs/notebooks'}/runs"
    monkeypatch.setenv("OLAB_NOTEBOOK_SIZE", "tiny")
    monkeypatch.setenv("OLAB_NOTEBOOK_DIR", str(tmp_path))
    tiny = olab.notebook_config(notebooks_dir=NOTEBOOKS, agnews_dir="/data/agnews")
    assert tiny.run.name == "notebooks-tiny" and tiny.chain.state_dir == f"{tmp_path}/chain"
    assert tiny.datanet.root_dir == f"{tmp_path}/datanets" and tiny.datanet.name == "agnews-tiny"
    assert (tiny.datanet.source.data_files, tiny.datanet.source.max_records) == ("/data/agnews/dev.tsv", 64)
    assert tiny.targets.source.max_records == 6
    full = olab.notebook_config("full", notebooks_dir=NOTEBOOKS, overrides={"run": {"models": 2}})
    assert full.run.name == olab.load_config(REPO / "configs" / "quickstart.yaml").run.name and full.run.models == 2
    with pytest.raises(ConfigError, match=r"notebook size 'huge' is not one of \['full', 'small', 'tiny'\]"):
        olab.notebook_config("huge", notebooks_dir=NOTEBOOKS)
