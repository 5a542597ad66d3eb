"""Adapters trained elsewhere (`Trainer`, plain PEFT) written as olab adapter directories (`Adapter.from_peft`)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from olab.adapters.adapter import ADAPTER_DIR, LABELS_FILE, METRICS_FILE, PROVENANCE_FILE, SPLIT_FILE
from olab.errors import ConfigError
from olab.hashing import sha256_dir
from olab.io import atomic_dir, atomic_write_json, read_json

# PEFT's task types -> olab's tasks
TASKS = {"SEQ_CLS": "classification", "CAUSAL_LM": "causal_lm"}


def write_imported(
    source: Any, out_dir: Path, *, labels: list[str] | None, base_model: str | None, overwrite: bool
) -> None:
    """Copy (or save) the PEFT adapter `source` into `out_dir/adapter/` and write olab's metadata beside it."""
    import torch

    from olab.adapters.models import base_weight_hash, resolve_base_model

    with atomic_dir(out_dir, overwrite=overwrite) as tmp:
        weights = tmp / ADAPTER_DIR
        if hasattr(source, "save_pretrained") and hasattr(source, "peft_config"):
            source.save_pretrained(str(weights))
            origin = f"a {type(source).__name__} in memory"
        else:
            if not (Path(source) / "adapter_config.json").is_file():
                raise ConfigError(
                    f"Adapter.from_peft: {source} is not a PEFT adapter directory (no adapter_config.json); pass "
                    "the folder PeftModel.save_pretrained or Trainer.save_model wrote, or the PeftModel itself"
                )
            shutil.copytree(source, weights)
            origin = str(Path(source).resolve())
        config = read_json(weights / "adapter_config.json")
        task = TASKS.get(str(config.get("task_type")))
        if task is None:
            raise ConfigError(
                f"Adapter.from_peft: task_type {config.get('task_type')!r} in {origin}'s adapter config is not "
                f"supported; olab attributes {', '.join(sorted(TASKS))} adapters (LoraConfig(task_type=...))"
            )
        if task == "classification" and not labels:
            raise ConfigError(
                "Adapter.from_peft: a sequence-classification adapter needs labels=[...], its class names in id order"
            )
        base = base_model or config.get("base_model_name_or_path")
        if not base:
            raise ConfigError(f"Adapter.from_peft: {origin} names no base model; pass base_model=")
        labels = list(labels or []) if task == "classification" else []
        atomic_write_json(tmp / LABELS_FILE, labels)
        atomic_write_json(tmp / SPLIT_FILE, {"train": [], "eval": []})  # the training data is not known here
        atomic_write_json(tmp / METRICS_FILE, {"train": [], "eval": []})
        atomic_write_json(
            tmp / PROVENANCE_FILE,
            {
                "task": task,
                "labels": labels,
                "base_model": {
                    "name": base,
                    "source": resolve_base_model(base),
                    "weight_hash": base_weight_hash(base),
                },
                "imported_from": origin,
                "adapter_hash": sha256_dir(weights),
                "checkpoints": {},
                "versions": {"torch": torch.__version__},
            },
        )
