"""olab: notebook-first data attribution.

A notebook cell is one call: `Datanet.build(...)`, `finetune(...)`, `attribute(...)`,
`rewards.compute(...)`, `Ledger(...)`, `run(...)`;
`Run.open(run_dir)` reopens a finished run with every artifact. Heavy modules load on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it (imported on first access, so `import olab` is fast)
_API = {
    "Datanet": "olab.datanet",
    "finetune": "olab.adapters",
    "attribute": "olab.attribution",
    "rewards": "olab.rewards",
    "Ledger": "olab.ledger",
    "run": "olab.pipeline",
    "Run": "olab.pipeline",
    "verify": "olab.pipeline",
    "reproduce": "olab.pipeline",
    "load_config": "olab.pipeline",
    "notebook_config": "olab.notebook",
}

__all__ = [*_API, "__version__"]


def __getattr__(name: str) -> Any:
    if name not in _API:
        raise AttributeError(f"module 'olab' has no attribute {name!r}")
    module = importlib.import_module(_API[name])
    return module if module.__name__.endswith("." + name) else getattr(module, name)
