"""`finetune`: train a LoRA adapter on a dataset of texts (and labels) with a plain, seeded AdamW loop.

Inputs are checked before any model is loaded; everything is written into a temporary directory that is
renamed into place only when training, checkpoints, metrics and provenance are all complete.
"""

from __future__ import annotations

import math
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from olab.adapters.adapter import (
    ADAPTER_DIR,
    CHECKPOINTS_DIR,
    LABELS_FILE,
    METRICS_FILE,
    PROVENANCE_FILE,
    SPLIT_FILE,
    Adapter,
    checkpoint_name,
    checkpoint_step,
)
from olab.adapters.chat import (
    INSTRUCTION_COLUMNS,
    answer_budget,
    exact_match,
    generate,
    instruction_view,
    labelled_logprob,
    labelled_tokens,
)
from olab.adapters.config import FinetuneConfig
from olab.adapters.data import Example, iter_batches
from olab.adapters.hub import model_card, write_hub_files
from olab.adapters.models import (
    base_weight_hash,
    label_column,
    label_maps,
    load_base_model,
    loadable_base,
    resolve_base_model,
)
from olab.config import config_hash, validate
from olab.devices import autocast, resolve_device, resolve_precision
from olab.errors import ConfigError, OlabError, ValidationError
from olab.hashing import hash_json, sha256_dir
from olab.io import atomic_dir, atomic_write_json, read_json
from olab.progress import Event, Progress, StageReport, resolve, stage

RESERVED_PROVENANCE_KEYS = {
    "task", "labels", "seed", "base_model", "config", "config_hash", "data", "adapter_hash", "checkpoints",
    "device", "precision", "versions",
}  # fmt: skip


# ---------------------------------------------------------------- input checks (before any heavy work)


def _row(ds: Any, i: int) -> str:
    for key in ("record_id", "id"):
        if key in ds.column_names:
            return f"row {i} ({key} {ds[i][key]!r})"
    return f"row {i}"


def _strings(ds: Any, column: str, name: str) -> list[str]:
    values = list(ds[column])
    for i, t in enumerate(values):
        if not isinstance(t, str) or not t.strip():
            raise ValidationError(f"{name}: {_row(ds, i)} has {column} {t!r}; every example needs a non-empty {column}")
    return values


def read_examples(ds: Any, labels: Sequence[str], task: str, name: str) -> tuple[list[Example], list[int] | None]:
    """(examples, label ids) from a datasets.Dataset; errors name the bad row.

    classification: columns `text` and `label` (names); causal_lm: `prompt` and `response` (instruction
    records, loss on the response) when both are present, else `text` (plain language modelling).
    """
    if not hasattr(ds, "column_names") or not isinstance(ds.column_names, list):
        raise ValidationError(
            f"{name}: expected a datasets.Dataset with a 'text' column, got {type(ds).__name__} "
            "(for a DatasetDict pass one split, e.g. ds['train'])"
        )
    if len(ds) == 0:
        raise ValidationError(f"{name} set is empty: fine-tuning needs at least one example")
    if task == "causal_lm" and set(INSTRUCTION_COLUMNS) <= set(ds.column_names):
        prompts, responses = (_strings(ds, c, name) for c in INSTRUCTION_COLUMNS)
        return list(zip(prompts, responses, strict=True)), None
    needed = ["text"] + (["label"] if task == "classification" else [])
    missing = [c for c in needed if c not in ds.column_names]
    if missing:
        alt = " (or 'prompt' and 'response' for instruction records)" if task == "causal_lm" else ""
        raise ValidationError(f"{name}: missing column(s) {missing}{alt}; columns present: {ds.column_names}")
    texts = _strings(ds, "text", name)
    if task != "classification":
        return texts, None
    raw = label_column(ds)  # a ClassLabel column (hub datasets, Datanet.to_hf()): ids -> names
    index = label_maps(labels)["label2id"]
    unknown = sorted({str(v) for v in raw if v not in index})
    if unknown:
        first = next(i for i, v in enumerate(raw) if v not in index)
        raise ValidationError(
            f"{name}: label(s) {unknown[:10]}{' ...' if len(unknown) > 10 else ''} are not in labels {list(labels)} "
            f"(first at {_row(ds, first)}); add them to labels or fix those rows"
        )
    return texts, [index[v] for v in raw]


def _check_labels(labels: Sequence[str], task: str) -> list[str]:
    labels = list(labels)
    if task == "classification":
        if len(labels) < 2:
            raise ConfigError(f"classification needs at least 2 label names, got {labels}")
        if len(set(labels)) != len(labels) or not all(isinstance(x, str) for x in labels):
            raise ConfigError(f"labels must be distinct strings (class-id order), got {labels}")
    return labels


def _eval_split(n: int, fraction: float, seed: int) -> tuple[list[int], list[int]]:
    if fraction == 0:
        return list(range(n)), []
    n_eval = max(1, round(n * fraction))
    if n_eval >= n:
        raise ConfigError(
            f"finetune.eval_fraction={fraction} of {n} examples leaves {n_eval} for eval and {n - n_eval} for "
            "training; both need at least one (pass an eval set, or set eval_fraction to 0)"
        )
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()
    return sorted(order[n_eval:]), sorted(order[:n_eval])


def checkpoint_steps(total_steps: int, count: int) -> list[int]:
    """`count` steps spread evenly through training, the last one == total_steps."""
    if count > total_steps:
        raise ConfigError(
            f"finetune.checkpoints={count} but training runs only {total_steps} optimiser "
            f"step{'s' if total_steps != 1 else ''}; "
            "lower checkpoints, or raise epochs / lower batch_size"
        )
    return [round(total_steps * (i + 1) / count) for i in range(count)]


# ---------------------------------------------------------------- model, loop, evaluation

LLAMA_ATTENTION = ["q_proj", "k_proj", "v_proj", "o_proj"]
# LoRA targets per `config.model_type` when finetune.lora.target_modules is left at its default
ARCH_TARGET_MODULES = {
    **dict.fromkeys(("llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "gemma3_text", "phi3"), LLAMA_ATTENTION),
}


def target_modules(model: Any, cfg: FinetuneConfig) -> list[str] | str:
    """cfg.lora.target_modules, except that the default (BERT's ['query', 'value']) means a Llama-family model's
    own attention projections, q/k/v/o_proj (a recorded config holds the default's value, so the value decides)."""
    default = type(cfg.lora).model_fields["target_modules"].default
    if cfg.lora.target_modules == default:
        return ARCH_TARGET_MODULES.get(getattr(model.config, "model_type", ""), default)
    return cfg.lora.target_modules


def _attach_lora(model: Any, cfg: FinetuneConfig) -> Any:
    from peft import LoraConfig, TaskType, get_peft_model

    targets = target_modules(model, cfg)
    lora = LoraConfig(
        task_type=TaskType.SEQ_CLS if cfg.task == "classification" else TaskType.CAUSAL_LM,
        r=cfg.lora.r,
        lora_alpha=cfg.lora.alpha,
        lora_dropout=cfg.lora.dropout,
        target_modules=targets,
        fan_in_fan_out=any(type(m).__name__ == "Conv1D" for m in model.modules()),  # GPT-2 stores weights (in, out)
    )  # SEQ_CLS puts the new head in modules_to_save: it trains and is saved with the adapter
    try:
        peft_model = get_peft_model(model, lora)
    except ValueError as e:
        linear = sorted({n.rsplit(".", 1)[-1] for n, m in model.named_modules() if _is_linear(m)})
        raise ConfigError(
            f"finetune.lora.target_modules={targets!r} matches no layer of {cfg.base_model!r} "
            f"({type(e).__name__}); its linear layers are named {linear}, or use 'all-linear'"
        ) from e
    peft_model.peft_config["default"].base_model_name_or_path = loadable_base(cfg.base_model)
    return peft_model


def _is_linear(module: torch.nn.Module) -> bool:
    return isinstance(module, torch.nn.Linear) or type(module).__name__ == "Conv1D"


def _save_adapter(model: Any, out: Path) -> None:
    model.save_pretrained(out, save_embedding_layers=False)  # we never resize embeddings; "auto" asks the Hub
    (out / "README.md").unlink(missing_ok=True)  # PEFT's model card: boilerplate, would only perturb the hash
    # PEFT keeps target_modules as a set and writes it in hash-seed order: sort it so the same training
    # gives the same bytes in every process
    config_file = out / "adapter_config.json"
    config = read_json(config_file)
    if isinstance(config.get("target_modules"), list):
        config["target_modules"] = sorted(config["target_modules"])
    atomic_write_json(config_file, config)


@torch.no_grad()
def evaluate(
    model: Any,
    tokenizer: Any,
    texts: Sequence[Example],
    labels: Sequence[int] | None,
    cfg: FinetuneConfig,
    device: torch.device,
    precision: str = "fp32",
) -> dict[str, float]:
    """Mean loss (per example for classification, per token for causal_lm) plus accuracy or perplexity, and for
    instruction records the exact match of the greedy answers with the references (`chat.exact_match`)."""
    was_training = model.training
    model.eval()
    loss_sum, count, correct = 0.0, 0, 0
    for _, batch in iter_batches(tokenizer, texts, labels, cfg.task, cfg.max_length, cfg.eval_batch_size):
        batch = {k: v.to(device) for k, v in batch.items()}
        if cfg.task == "classification":
            with autocast(device, precision):
                logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits.float()
            loss_sum += torch.nn.functional.cross_entropy(logits, batch["labels"], reduction="sum").item()
            correct += (logits.argmax(-1) == batch["labels"]).sum().item()
            count += len(batch["labels"])
        else:
            with autocast(device, precision):
                loss_sum -= labelled_logprob(model, batch).sum().item()
            count += labelled_tokens(batch["labels"])
    model.train(was_training)
    loss = loss_sum / max(count, 1)
    if cfg.task == "classification":
        return {"loss": loss, "accuracy": correct / max(count, 1)}
    result = {"loss": loss, "perplexity": math.exp(min(loss, 50.0))}
    if texts and isinstance(texts[0], tuple):
        prompts, references = zip(*texts, strict=True)
        with autocast(device, precision):
            answers = generate(model, tokenizer, prompts, max_new_tokens=answer_budget(tokenizer, references),
                               batch_size=cfg.eval_batch_size, max_length=cfg.max_length)  # fmt: skip
        result["exact_match"] = exact_match(answers, references)
    return result


def training_loss(model: Any, batch: dict[str, torch.Tensor], task: str) -> torch.Tensor:
    """The training loss: cross-entropy of the label for classification; for causal_lm the mean per-token loss
    over the labelled tokens (what transformers computes from `labels`, without the prompt positions' logits)."""
    if task == "classification":
        return model(**batch).loss
    return -labelled_logprob(model, batch).sum() / max(labelled_tokens(batch["labels"]), 1)


def _train(
    model: Any,
    tokenizer: Any,
    data: tuple[list[Example], list[int] | None],
    eval_data: tuple[list[Example], list[int] | None] | None,
    cfg: FinetuneConfig,
    device: torch.device,
    precision: str,
    ckpt_root: Path,
    report: StageReport,
) -> dict[str, Any]:
    """The loop: AdamW, linear warmup then decay, autocast on GPU, checkpoints at the planned steps."""
    from transformers import get_linear_schedule_with_warmup

    texts, labels = data
    steps_per_epoch = math.ceil(len(texts) / cfg.batch_size)
    total = cfg.epochs * steps_per_epoch
    save_at = set(checkpoint_steps(total, cfg.checkpoints))
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    schedule = get_linear_schedule_with_warmup(optimizer, round(cfg.warmup_ratio * total), total)
    scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")
    history: list[dict[str, Any]] = []
    evals: list[dict[str, Any]] = []
    step, started = 0, time.perf_counter()
    model.to(device).train()
    for epoch in range(cfg.epochs):
        batches = iter_batches(
            tokenizer,
            texts,
            labels,
            cfg.task,
            cfg.max_length,
            cfg.batch_size,
            shuffle=True,
            seed=cfg.seed * 100_003 + epoch,
        )
        for i, (_, batch) in enumerate(batches):
            batch = {k: v.to(device) for k, v in batch.items()}
            with autocast(device, precision):
                loss = training_loss(model, batch, cfg.task)
            scaler.scale(loss).backward()
            if cfg.max_grad_norm is not None:
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
            lr = schedule.get_last_lr()[0]
            scaler.step(optimizer)
            scaler.update()
            optimizer.zero_grad(set_to_none=True)
            schedule.step()
            step += 1
            row = {"step": step, "epoch": epoch + (i + 1) / steps_per_epoch, "loss": loss.item(), "lr": lr}
            history.append(row)
            report.advance(1, **{k: v for k, v in row.items() if k != "step"})
            if step in save_at:
                _save_adapter(model, ckpt_root / checkpoint_name(step))
                report.sink(Event(report.name, "checkpoint", done=step, total=total))
        if eval_data is not None:
            result = {
                "epoch": epoch + 1,
                "step": step,
                **evaluate(model, tokenizer, *eval_data, cfg, device, precision),
            }
            evals.append(result)
            metrics = {k: v for k, v in result.items() if k != "step"}
            report.sink(Event(report.name, "eval", done=step, total=total, metrics=metrics))
    seconds = time.perf_counter() - started
    return {
        "total_steps": total,
        "checkpoint_steps": sorted(save_at),
        "train": history,
        "eval": evals,
        "train_seconds": seconds,
        "examples_per_second": cfg.epochs * len(texts) / seconds,
    }


# ---------------------------------------------------------------- the public call


def finetune(
    train: Any,
    labels: Sequence[str] | None = None,
    cfg: FinetuneConfig | dict[str, Any] | None = None,
    out_dir: str | Path | None = None,
    *,
    eval: Any | None = None,
    provenance: dict[str, Any] | None = None,
    progress: bool | Progress = True,
    overwrite: bool = False,
) -> Adapter:
    """Fine-tune a LoRA adapter on `train` into `out_dir`: an `olab.Datanet` (its labels, and its name, version and
    root as provenance, come with it) or a Dataset with `text` (and `label` names for classification, listed in
    id order by `labels`). `cfg`: a FinetuneConfig or its dict (default: the documented defaults).

    `eval` is a held-out set (else `cfg.eval_fraction` of `train` is held out); `provenance` holds facts about
    where the data came from (e.g. {"datanet": {"name", "version", "root"}}) and is stored in provenance.json;
    `progress`: True for a tqdm bar, False for none, or a callable receiving `olab.progress.Event`s (stage
    "fine-tune": a step per optimizer step with loss, lr and epoch; eval and checkpoint events; the end's message
    is the adapter's path and hash), such as the `TrainingProgress` widget.
    """
    from olab.datanet import Datanet

    if cfg is None:
        cfg = FinetuneConfig()
    cfg = cfg if isinstance(cfg, FinetuneConfig) else validate(FinetuneConfig, dict(cfg), "finetune config")
    if isinstance(train, Datanet):
        origin = {"datanet": {"name": train.name, "version": train.version, "root": train.root}}
        provenance = origin | (provenance or {})
        if cfg.task == "causal_lm":  # an instruction Datanet: prompts in the text slot, responses in the label slot
            labels, train = [] if labels is None else labels, instruction_view(train.to_hf())
        else:
            labels, train = train.labels if labels is None else labels, train.to_hf()
    if labels is None:
        raise ConfigError("finetune: pass `labels` (the label names in id order; [] for causal_lm) or an olab.Datanet")
    if out_dir is None:
        raise ConfigError("finetune: pass `out_dir`, the directory the adapter is written to")
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()) and not overwrite:
        raise OlabError(f"{out_dir} already exists and is not empty; choose another out_dir or pass overwrite=True")
    clash = RESERVED_PROVENANCE_KEYS & set(provenance or {})
    if clash:
        raise ConfigError(f"provenance keys {sorted(clash)} are written by finetune itself; rename them")
    labels = _check_labels(labels, cfg.task)
    texts, label_ids = read_examples(train, labels, cfg.task, "train")
    if eval is not None:
        train_rows, eval_rows = list(range(len(texts))), []
        eval_data = read_examples(eval, labels, cfg.task, "eval")
    else:
        train_rows, eval_rows = _eval_split(len(texts), cfg.eval_fraction, cfg.seed)
        eval_data = (_take(texts, eval_rows), _take(label_ids, eval_rows)) if eval_rows else None
    data = (_take(texts, train_rows), _take(label_ids, train_rows))
    total = cfg.epochs * math.ceil(len(train_rows) / cfg.batch_size)
    checkpoint_steps(total, cfg.checkpoints)  # fails early on a plan with more checkpoints than steps
    source = resolve_base_model(cfg.base_model)
    device = resolve_device(cfg.device, "finetune")
    precision = resolve_precision(cfg.precision, device, "finetune", without_bf16="fp16")  # fp16 with loss scaling

    from transformers import set_seed

    set_seed(cfg.seed)  # before the head and LoRA are initialised
    model, tokenizer = load_base_model(cfg.base_model, cfg.task, labels if cfg.task == "classification" else None)
    limit = getattr(model.config, "max_position_embeddings", None)
    if limit and cfg.max_length > limit:
        raise ConfigError(f"finetune.max_length={cfg.max_length} exceeds {cfg.base_model!r}'s {limit} positions")
    model = _attach_lora(model, cfg)
    weight_hash = base_weight_hash(cfg.base_model)

    with stage(resolve(progress), "fine-tune", total) as report:
        with atomic_dir(out_dir, overwrite=True) as tmp:
            metrics = _train(model, tokenizer, data, eval_data, cfg, device, precision, tmp / CHECKPOINTS_DIR, report)
            last = tmp / CHECKPOINTS_DIR / checkpoint_name(metrics["total_steps"])
            shutil.copytree(last, tmp / ADAPTER_DIR)
            card = model_card(cfg.base_model, cfg.task, labels, cfg.model_dump(mode="json"), provenance or {})
            write_hub_files(tmp / ADAPTER_DIR, tokenizer, card)
            atomic_write_json(tmp / METRICS_FILE, metrics)
            atomic_write_json(tmp / LABELS_FILE, labels)
            atomic_write_json(tmp / SPLIT_FILE, {"train": train_rows, "eval": eval_rows})
            atomic_write_json(
                tmp / PROVENANCE_FILE,
                _provenance(cfg, labels, source, weight_hash, data, eval_data, eval is not None, tmp, device, precision)
                | (provenance or {}),
            )
        adapter = Adapter.open(out_dir)
        report.end_message = f"{out_dir} · {adapter.hash}"
    return adapter


def _take(values: list[Any] | None, rows: list[int]) -> list[Any] | None:
    return None if values is None else [values[i] for i in rows]


def _provenance(
    cfg: FinetuneConfig,
    labels: list[str],
    source: str,
    weight_hash: str,
    data: tuple[list[Example], list[int] | None],
    eval_data: tuple[list[Example], list[int] | None] | None,
    eval_given: bool,
    out: Path,
    device: torch.device,
    precision: str,
) -> dict[str, Any]:
    import peft
    import transformers

    import olab

    texts, ids = data
    return {
        "task": cfg.task,
        "labels": labels,
        "seed": cfg.seed,
        "base_model": {"name": cfg.base_model, "source": source, "weight_hash": weight_hash},
        "config": cfg.model_dump(mode="json"),
        "config_hash": config_hash(cfg),
        "data": {
            "train_hash": hash_json([texts, ids]),
            "train_examples": len(texts),
            "eval_hash": None if eval_data is None else hash_json(list(eval_data)),
            "eval_examples": 0 if eval_data is None else len(eval_data[0]),
            "eval_source": "given" if eval_given else ("split" if eval_data else "none"),
        },
        "adapter_hash": sha256_dir(out / ADAPTER_DIR),
        "checkpoints": {p.name: sha256_dir(p) for p in sorted((out / CHECKPOINTS_DIR).iterdir(), key=checkpoint_step)},
        "device": str(device) if device.type == "cpu" else f"{device} ({torch.cuda.get_device_name(device)})",
        "precision": precision,
        "versions": {
            "olab": olab.__version__,
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "peft": peft.__version__,
        },
    }
