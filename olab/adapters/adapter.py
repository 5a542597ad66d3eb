"""The fine-tuning artifact: a directory holding the LoRA adapter, its checkpoints, metrics and provenance.

Layout (defined here once):
    adapter/                 final adapter: PEFT `save_pretrained` format plus tokenizer and model card (README.md),
                             a Hugging Face repo `AutoPeftModelFor...` loads and `push_to_hub` uploads
    checkpoints/ckpt-<step>/ adapters saved evenly through training (the last equals adapter/)
    metrics.json             train loss curve, eval loss/accuracy per epoch, timings
    provenance.json          base model + weight hash, config + hash, data origin and hash, versions, device
    labels.json              label names in class-id order
    split.json               which rows of the given train set were trained on / held out for eval
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from olab.errors import OlabError, VerificationError
from olab.hashing import hash_json, sha256_dir, sha256_file
from olab.io import read_json

ADAPTER_DIR = "adapter"
CHECKPOINTS_DIR = "checkpoints"
METRICS_FILE = "metrics.json"
PROVENANCE_FILE = "provenance.json"
LABELS_FILE = "labels.json"
SPLIT_FILE = "split.json"
# `Adapter.hash` covers the weights (final adapter and every checkpoint, since attribution ensembles
# over them), the label order and the split; not timings (metrics), this machine's paths (provenance)
# or files others put beside them.
HASHED = (ADAPTER_DIR, CHECKPOINTS_DIR, LABELS_FILE, SPLIT_FILE)


def artifact_hash(path: Path) -> str:
    """The hash of an adapter directory's trained contents (see HASHED)."""
    parts = {name: path / name for name in HASHED if (path / name).exists()}
    return hash_json({name: sha256_dir(p) if p.is_dir() else sha256_file(p) for name, p in parts.items()})


def checkpoint_name(step: int) -> str:
    return f"ckpt-{step}"


def checkpoint_step(path: Path) -> int:
    return int(Path(path).name.removeprefix("ckpt-"))


@dataclass
class Adapter:
    """A fine-tuned LoRA adapter on disk, with what it was trained from and how."""

    path: Path
    adapter_dir: Path
    checkpoints: list[Path]
    metrics: dict[str, Any]
    provenance: dict[str, Any]
    labels: list[str]
    task: str
    hash: str

    @classmethod
    def open(cls, path: str | Path) -> Adapter:
        """Read an adapter directory written by `finetune`; `hash` is recomputed from the files."""
        path = Path(path)
        if not (path / PROVENANCE_FILE).is_file() or not (path / ADAPTER_DIR).is_dir():
            raise OlabError(
                f"{path} is not a fine-tuned adapter directory (expected {PROVENANCE_FILE} and {ADAPTER_DIR}/ "
                "written by olab.finetune)"
            )
        provenance = read_json(path / PROVENANCE_FILE)
        ckpt_root = path / CHECKPOINTS_DIR
        checkpoints = sorted(ckpt_root.glob("ckpt-*"), key=checkpoint_step) if ckpt_root.is_dir() else []
        return cls(
            path=path,
            adapter_dir=path / ADAPTER_DIR,
            checkpoints=checkpoints,
            metrics=read_json(path / METRICS_FILE),
            provenance=provenance,
            labels=read_json(path / LABELS_FILE),
            task=provenance["task"],
            hash=artifact_hash(path),
        )

    @classmethod
    def from_peft(
        cls,
        source: Any,
        out_dir: str | Path,
        *,
        labels: list[str] | None = None,
        base_model: str | None = None,
        overwrite: bool = False,
    ) -> Adapter:
        """Wrap a LoRA adapter trained elsewhere (with `Trainer` or plain PEFT) so `attribute` can use it.

        `source`: a PEFT adapter directory (`save_pretrained` output: adapter_config.json and weights) or a
        `PeftModel`; it is copied to `out_dir/adapter/` beside olab's provenance. `labels`: the class names in
        id order (required for a sequence-classification adapter); `base_model`: the base to load, when not the
        adapter config's `base_model_name_or_path`. The base model's weights are hashed now, so loading over
        other weights later is refused, as for adapters olab trained."""
        from olab.adapters.imports import write_imported

        write_imported(source, Path(out_dir), labels=labels, base_model=base_model, overwrite=overwrite)
        return cls.open(out_dir)

    @property
    def label_maps(self) -> dict[str, Any]:
        """`num_labels`, `id2label`, `label2id` for a plain PEFT or transformers load of a classification adapter:
        `AutoPeftModelForSequenceClassification.from_pretrained(adapter.adapter_dir, **adapter.label_maps)`.

        The call needs them: PEFT rebuilds the base from `base_model_name_or_path` alone, whose config gives a
        2-class head, so the trained head's weights do not fit (huggingface/peft#554); adapter_config.json has no
        place for the head's size, and a config.json beside it makes transformers read the folder as a full model."""
        from olab.adapters.models import label_maps

        return label_maps(self.labels) if self.task == "classification" else {}

    def push_to_hub(
        self, repo_id: str, *, private: bool | None = None, token: str | None = None, endpoint: str | None = None
    ) -> str:
        """Upload the final adapter (weights, config, tokenizer, model card) to the Hub; returns the commit URL."""
        from olab.hub import upload_folder

        return upload_folder(
            self.adapter_dir,
            repo_id,
            "model",
            "olab: upload LoRA adapter",
            token=token,
            private=private,
            endpoint=endpoint,
        )

    @property
    def split(self) -> dict[str, Any]:
        """{"train": row indices trained on, "eval": row indices held out (empty when an eval set was given)}."""
        return read_json(self.path / SPLIT_FILE)

    def load(self, checkpoint: Path | None = None, device: str | None = None) -> tuple[Any, Any]:
        """(PeftModel in eval mode, tokenizer): the base model with this adapter (or one checkpoint) applied.

        Refuses a base model whose weights differ from the ones the adapter was trained on.
        """
        from peft import PeftModel

        from olab.adapters.models import base_weight_hash, load_base_model

        weights = self.adapter_dir if checkpoint is None else Path(checkpoint)
        if not (weights / "adapter_config.json").is_file():
            raise OlabError(
                f"{weights} is not a PEFT adapter directory; use one of {[str(c) for c in self.checkpoints]}"
            )
        base = self.provenance["base_model"]
        found = base_weight_hash(base["name"])
        if found != base["weight_hash"]:
            raise VerificationError(
                f"base model {base['name']!r} has weight hash {found}, but the adapter at {self.path} was trained "
                f"on weights hashing to {base['weight_hash']}; load the same base model"
            )
        model, tokenizer = load_base_model(base["name"], self.task, self.labels or None)
        model = PeftModel.from_pretrained(model, str(weights))
        if device is not None:
            model.to(device)
        return model.eval(), tokenizer
