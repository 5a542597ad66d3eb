"""TRAK attribution over LoRA adapters: `attribute(models, train, targets, cfg, out_dir) -> Attribution`.

`engine: olab` (default) featurizes with hooks on the LoRA layers (one batched forward+backward) and a
seeded, device-independent projection; `engine: traker` runs the traker package as the reference.
"""

from olab.attribution.api import attribute
from olab.attribution.config import AttributionConfig
from olab.attribution.result import Attribution

__all__ = ["Attribution", "AttributionConfig", "attribute"]
