"""LoRA adapters: `finetune(train, labels, cfg, out_dir) -> Adapter` trains one, `Adapter.open(dir)` reopens it.

The base model is an alias (the offline all-MiniLM-L6-v2 by default), a local model directory or a Hub id;
the adapter directory carries checkpoints for attribution ensembles and the provenance that ties it to its data.
"""

from olab._lazy import lazy_exports

__all__, __getattr__ = lazy_exports(
    __name__,
    {
        "olab.adapters.adapter": ("Adapter",),
        "olab.adapters.config": ("FinetuneConfig", "LoraSection"),
        "olab.adapters.data": ("encode", "iter_batches"),
        "olab.adapters.models": ("base_weight_hash", "load_base_model", "resolve_base_model"),
        "olab.adapters.train": ("finetune",),
    },
)
