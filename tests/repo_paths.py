"""Where the tests find the repository, its experiment scripts and the real AG News sample.

AG News lives in ../shared/data/agnews beside the clone (as CI has it); tests that need it skip
with `needs_agnews` when it is absent. Importable from every test folder: pytest puts tests/ on
sys.path for its conftest.py.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[1]
AGNEWS = REPO.parent / "shared" / "data" / "agnews"
needs_agnews = pytest.mark.skipif(not AGNEWS.is_dir(), reason=f"needs the AG News TSVs in {AGNEWS}")


def load_script(name: str, rel: str) -> ModuleType:
    """Import a script that is not in a package (experiments/<x>/run.py) as module `name`."""
    spec = importlib.util.spec_from_file_location(name, REPO / rel)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod  # pydantic resolves the config models' annotations through sys.modules
    spec.loader.exec_module(mod)
    return mod
