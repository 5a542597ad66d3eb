"""`notebook_config(...)`: the run config the notebooks and marimo apps share, in one call.

A size picks a config (tiny: seconds, for CI; small: minutes on a CPU; full: the quickstart); Datanets, runs
and the local chain's state go under one work directory; with an AG News folder the Datanet and targets come
from its TSV files instead of the offline synthetic source. Each argument left as None comes from the
environment (`OLAB_NOTEBOOK_SIZE`, `OLAB_NOTEBOOK_DIR`, `OLAB_AGNEWS_DIR`), so CI and users set them once.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from olab.config import deep_merge
from olab.errors import ConfigError

if TYPE_CHECKING:
    from olab.pipeline.config import RunConfig

# size -> (config file relative to the notebooks folder, AG News records for the Datanet, AG News targets)
SIZES = {
    "tiny": ("tiny.yaml", 64, 6),
    "small": ("small.yaml", 240, 100),
    "full": ("../configs/quickstart.yaml", 1000, 200),
}
DEFAULT_SIZE = "small"
DEFAULT_WORKDIR = "../runs/notebooks"  # relative to the notebooks folder
AGNEWS_TSV = {"kind": "files", "format": "tsv", "column_names": ["text", "label"], "shuffle_seed": 0}


def notebook_size(size: str | None = None) -> str:
    """`size`, else `$OLAB_NOTEBOOK_SIZE`, else small; one of tiny, small, full."""
    size = size or os.environ.get("OLAB_NOTEBOOK_SIZE") or DEFAULT_SIZE
    if size not in SIZES:
        raise ConfigError(f"notebook size {size!r} is not one of {sorted(SIZES)} (set OLAB_NOTEBOOK_SIZE)")
    return size


def notebook_workdir(notebooks_dir: str | Path | None = None, workdir: str | Path | None = None) -> Path:
    """`workdir`, else `$OLAB_NOTEBOOK_DIR`, else ../runs/notebooks beside the notebooks folder (default: here)."""
    here = Path(notebooks_dir) if notebooks_dir is not None else Path.cwd()
    return Path(workdir or os.environ.get("OLAB_NOTEBOOK_DIR") or here / DEFAULT_WORKDIR)


def notebook_config(
    size: str | None = None,
    *,
    workdir: str | Path | None = None,
    agnews_dir: str | Path | None = None,
    notebooks_dir: str | Path | None = None,
    overrides: dict[str, Any] | None = None,
) -> RunConfig:
    """The notebooks' run config: `size` (tiny | small | full) under `workdir`, on AG News from `agnews_dir`
    when given; `notebooks_dir` is where tiny.yaml and small.yaml are (default: the current directory, where
    Jupyter runs a notebook); `overrides` apply last (e.g. a marimo app's settings)."""
    from olab.pipeline.config import load_config

    size = notebook_size(size)
    here = Path(notebooks_dir) if notebooks_dir is not None else Path.cwd()
    workdir = notebook_workdir(here, workdir)
    agnews_dir = agnews_dir or os.environ.get("OLAB_AGNEWS_DIR") or None
    config_file, n_train, n_targets = SIZES[size]
    settings: dict[str, Any] = {
        "datanet": {"root_dir": f"{workdir}/datanets"},
        "run": {"runs_dir": f"{workdir}/runs"},
        "chain": {"state_dir": f"{workdir}/chain"},
    }
    if agnews_dir:
        files = Path(agnews_dir)
        settings["datanet"] |= {
            "name": f"agnews-{size}",
            "source": AGNEWS_TSV | {"data_files": str(files / "dev.tsv"), "max_records": n_train},
        }
        settings["targets"] = {"source": AGNEWS_TSV | {"data_files": str(files / "test.tsv"), "max_records": n_targets}}
    return load_config(here / config_file, deep_merge(settings, overrides or {}))
