"""TRAK attribution over LoRA adapters: `attribute(models, train, targets, cfg, out_dir) -> Attribution`.

`engine: olab` (default) featurizes with hooks on the LoRA layers (one batched forward+backward) and a
seeded, device-independent projection; `engine: traker` runs the traker package as the reference.
"""

from olab._lazy import lazy_exports

__all__, __getattr__ = lazy_exports(
    __name__,
    {
        "olab.attribution.api": ("attribute",),
        "olab.attribution.config": ("AttributionConfig",),
        "olab.attribution.result": ("Attribution",),
    },
)
