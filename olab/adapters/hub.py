"""What makes an adapter's `adapter/` folder a Hugging Face model repository: the tokenizer, a model card and
a base model `from_pretrained` can load, so PEFT, transformers and the Hub use it without olab.

The card is deterministic (the same training writes the same bytes), since `adapter/` is part of the adapter hash.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from olab.adapters.models import label_maps, loadable_base
from olab.io import atomic_write_text

CARD = "README.md"
PEFT_CLASS = {"classification": "AutoPeftModelForSequenceClassification", "causal_lm": "AutoPeftModelForCausalLM"}


def model_card(base_model: str, task: str, labels: list[str], config: dict[str, Any], data: dict[str, Any]) -> str:
    """The adapter's README.md: Hub metadata, what it was trained on, and how to load it with PEFT."""
    base = loadable_base(base_model)
    meta = {
        "base_model": base,
        "library_name": "peft",
        "pipeline_tag": "text-classification" if task == "classification" else "text-generation",
        "tags": ["lora", "olab", "data-attribution"],
    }
    kwargs = "".join(f", {k}={v!r}" for k, v in label_maps(labels).items()) if task == "classification" else ""
    datanet = data.get("datanet")
    trained_on = (
        f"Datanet `{datanet['name']}` version {datanet['version']} (Merkle root `{datanet['root']}`)"
        if datanet
        else "the examples recorded in `../provenance.json`"
    )
    label_lines = "".join(f"| {i} | {name} |\n" for i, name in enumerate(labels))
    return (
        f"---\n{yaml.safe_dump(meta, sort_keys=True)}---\n\n"
        f"# LoRA adapter on {base}\n\n"
        f"A {task} LoRA adapter trained by olab on {trained_on}"
        + (f", over olab's base-model alias `{base_model}`" if base != base_model else "")
        + ".\n\n"
        + (f"| class id | label |\n| --- | --- |\n{label_lines}\n" if labels else "")
        + "## Load it\n\n"
        "```python\n"
        f"from peft import {PEFT_CLASS[task]}\n\n"
        f'model = {PEFT_CLASS[task]}.from_pretrained("<this folder or repo id>"{kwargs})\n'
        "```\n\n"
        + (
            "A classification head's size is not stored with a PEFT adapter, so pass the label names as above "
            "(`Adapter.label_maps` in olab).\n\n"
            if labels
            else ""
        )
        + f"## Fine-tuning config\n\n```json\n{json.dumps(config, indent=2, sort_keys=True)}\n```\n"
    )


def write_hub_files(adapter_dir: Path, tokenizer: Any, card: str) -> None:
    """Put the tokenizer and the model card beside the PEFT weights in `adapter_dir`."""
    tokenizer.save_pretrained(adapter_dir)
    atomic_write_text(adapter_dir / CARD, card)
