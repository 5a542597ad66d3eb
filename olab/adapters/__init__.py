"""LoRA adapters: `finetune(train, labels, cfg, out_dir) -> Adapter` trains one, `Adapter.open(dir)` reopens it.

The base model is an alias (the offline all-MiniLM-L6-v2 by default), a local model directory or a Hub id;
the adapter directory carries checkpoints for attribution ensembles and the provenance that ties it to its data.
"""

from olab.adapters.adapter import Adapter
from olab.adapters.config import FinetuneConfig, LoraSection
from olab.adapters.data import encode, iter_batches
from olab.adapters.models import base_weight_hash, load_base_model, resolve_base_model
from olab.adapters.train import finetune

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
