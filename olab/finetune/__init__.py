"""LoRA fine-tuning (PEFT + transformers): `finetune(train, labels, cfg, out_dir) -> Adapter`.

The base model is an alias (the offline all-MiniLM-L6-v2 by default), a local model directory or a Hub id;
the adapter directory carries checkpoints for attribution ensembles and the provenance that ties it to its data.
"""

import sys
import types
from typing import Any

from olab.finetune.adapter import Adapter
from olab.finetune.config import FinetuneConfig, LoraSection
from olab.finetune.data import encode, iter_batches
from olab.finetune.models import base_weight_hash, load_base_model, resolve_base_model
from olab.finetune.train import finetune

__all__ = [
    "Adapter",
    "FinetuneConfig",
    "LoraSection",
    "base_weight_hash",
    "encode",
    "finetune",
    "iter_batches",
    "load_base_model",
    "resolve_base_model",
]


class _CallableModule(types.ModuleType):
    """`olab.finetune(...)` is the function (a notebook cell is one call), while `olab.finetune.Adapter`
    and the other names stay reachable: Python binds the subpackage to `olab.finetune` once it is imported."""

    def __call__(self, *args: Any, **kwargs: Any) -> Adapter:
        return finetune(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
