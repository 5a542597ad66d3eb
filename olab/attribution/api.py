"""`attribute(models, train, targets, cfg, out_dir) -> Attribution`: TRAK over one or more LoRA adapters.

Ensemble members are each adapter's final weights (checkpoints: last) or every saved checkpoint
(checkpoints: all). Inputs are checked before any model is featurized; features stream to .npy
files in a working folder, scores are computed in blocks of training rows, and the artifact
(scores.npy, self_influence.npy, attribution.json) appears in `out_dir` only once complete.
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from olab.adapters.chat import INSTRUCTION_COLUMNS
from olab.adapters.data import Example
from olab.adapters.models import label_column, label_maps
from olab.attribution.config import AttributionConfig
from olab.attribution.featurize import (
    Featurizer,
    check_exact,
    fit_batch_size,
    gradient_blocks,
    gradient_layout,
    mark_adapter_trainable,
)
from olab.attribution.members import EnsembleMember, ensemble_members
from olab.attribution.outputs import OUTPUT_FUNCTION
from olab.attribution.projection import Projector, make_projector
from olab.attribution.result import MEMBER_SCORES_FILE, PARAMS_FILE, SCORES_FILE, SELF_INFLUENCE_FILE, Attribution
from olab.attribution.shards import shard_rows
from olab.attribution.trak import Member, NpyRows, score, write_features
from olab.config import validate
from olab.devices import AUTOCAST, resolve_device, resolve_precision
from olab.errors import OlabError
from olab.hashing import dataset_hash, sha256_file
from olab.io import atomic_dir, atomic_write_json
from olab.progress import Progress, Steps, resolve

OLAB_SELF_INFLUENCE = "effect on the record's own loss: mean over members of φ_i (ΦᵀΦ+λI)⁻¹ φ_iᵀ, times (mean Q_i)²"


def _check_inputs(adapters: list[Any], train: Any, targets: Any) -> tuple[str, list[str]]:
    """Validate tasks, labels and columns before heavy work; return (task, label names)."""
    if not adapters:
        raise OlabError("attribute needs at least one adapter")
    task, labels = adapters[0].task, list(adapters[0].labels)
    for a in adapters[1:]:
        if a.task != task or list(a.labels) != labels:
            raise OlabError(
                f"ensemble adapters must share task and labels: {adapters[0].path} has ({task}, {labels}), "
                f"{a.path} has ({a.task}, {list(a.labels)})"
            )
    for name, ds in (("train", train), ("targets", targets)):
        cols = set(ds.column_names)
        need = {"text", "label"} if task == "classification" else {"text"}
        if not need <= cols and not (task == "causal_lm" and set(INSTRUCTION_COLUMNS) <= cols):
            alt = " (or 'prompt' and 'response' for instruction records)" if task == "causal_lm" else ""
            raise OlabError(f"the {name} set needs columns {sorted(need)}{alt}; it has {sorted(cols)}")
        if len(ds) == 0:
            raise OlabError(f"the {name} set is empty; attribution needs at least one {name} example")
        if task == "classification":
            unseen = sorted(map(str, set(label_column(ds)) - set(labels)))
            if unseen:
                raise OlabError(
                    f"the {name} set has labels {unseen} that the adapter was not trained on; "
                    f"expected labels among {labels}"
                )
    return task, labels


def examples(ds: Any, task: str, label_names: list[str]) -> tuple[list[Example], list[int] | None]:
    """(examples, class ids or None) as featurization encodes them: texts; (prompt, response) pairs for instruction
    records (f = the response's log-odds); class ids for classification."""
    if task == "causal_lm" and set(INSTRUCTION_COLUMNS) <= set(ds.column_names):
        return list(zip(ds["prompt"], ds["response"], strict=True)), None
    label_ids = label_maps(label_names)["label2id"]
    labels = [label_ids[x] for x in label_column(ds)] if task == "classification" else None
    return list(ds["text"]), labels


# featurization batch sizes when attribution.batch_size is null
CPU_BATCH, CUDA_TRAKER_BATCH, CUDA_PROBE_START = 32, 64, 512


def keeps_member_scores(cfg: AttributionConfig, members: int) -> bool:
    """Whether attribution keeps each member's own scores beside their mean (member_scores.npy), so that share
    intervals can resample the members too: with several members, on the olab engine's local executor (traker
    and Ray score only the mean)."""
    return members > 1 and cfg.engine == "olab" and cfg.executor == "local"


def default_batch_size(cfg: AttributionConfig, device: torch.device) -> int | None:
    """cfg.batch_size; else 32 on the CPU, 64 for traker on CUDA, and None for olab on CUDA: fitted to the
    GPU's free memory by featurizing the longest examples (`_Job.probe_batch_size`)."""
    if cfg.batch_size:
        return cfg.batch_size
    if device.type != "cuda":
        return CPU_BATCH
    return CUDA_TRAKER_BATCH if cfg.engine == "traker" else None


def _peak_rss_mb() -> float:
    """This process's peak resident memory in MB: getrusage on POSIX (KiB on Linux, bytes on macOS), psutil's
    peak working set on Windows, which has no `resource` module."""
    if sys.platform == "win32":
        import psutil

        return psutil.Process().memory_info().peak_wset / 2**20
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024.0


def attribute(
    models: Any,
    train: Any,
    targets: Any,
    cfg: AttributionConfig | dict | None = None,
    out_dir: str | Path = "attribution",
    *,
    progress: bool | Progress = True,
) -> Attribution:
    """TRAK scores of `train` records for `targets` under the adapter(s) `models`, written to `out_dir`.

    `models`: an `olab.adapters.Adapter` or a list (an ensemble); `train`/`targets`: `datasets.Dataset`
    with `text` and `label` (label names). `progress`: True for tqdm bars, False for none, or a callable
    receiving an `olab.progress.Event` per batch of each pass (featurize train/targets per member, score).
    """
    t_start = time.perf_counter()
    if cfg is None:
        cfg = AttributionConfig()
    elif isinstance(cfg, dict):
        cfg = validate(AttributionConfig, cfg, source="attribution")
    adapters = list(models) if isinstance(models, list | tuple) else [models]
    task, label_names = _check_inputs(adapters, train, targets)
    if cfg.n_targets is not None and len(targets) > cfg.n_targets:
        targets = targets.select(range(cfg.n_targets))
    device = resolve_device(cfg.device, "attribution")
    autocast = AUTOCAST[resolve_precision(cfg.precision, device, "attribution", without_bf16="fp32")]
    members = ensemble_members(adapters, cfg.checkpoints)
    train_texts, train_labels = examples(train, task, label_names)
    target_texts, target_labels = examples(targets, task, label_names)
    timings: dict[str, float] = {}

    with atomic_dir(out_dir, overwrite=True) as tmp, Steps(resolve(progress)) as steps:
        job = _Job(
            cfg=cfg,
            task=task,
            members=members,
            device=device,
            autocast=autocast,
            train=(train_texts, train_labels),
            targets=(target_texts, target_labels),
            work=tmp / "work",
            scores=NpyRows(tmp / SCORES_FILE, shape=(len(train_texts), len(target_texts))),
            member_scores=NpyRows(tmp / MEMBER_SCORES_FILE, shape=(len(train_texts), len(members) * len(target_texts)))
            if keeps_member_scores(cfg, len(members))
            else None,
            steps=steps,
            timings=timings,
            batch_size=default_batch_size(cfg, device),
            shard_storage=cfg.shard_storage or str(Path(out_dir).parent / f".{Path(out_dir).name}.shards"),
        )
        job.work.mkdir()
        info = job.run_olab() if cfg.engine == "olab" else job.run_traker()
        steps.close()
        used_batch_size = job.batch_size
        del job
        shutil.rmtree(tmp / "work")
        np.save(tmp / SELF_INFLUENCE_FILE, info.pop("self_influence").astype(np.float32))
        timings["total_s"] = time.perf_counter() - t_start
        params = {
            "engine": cfg.engine,
            "config": cfg.model_dump(mode="json"),
            "task": task,
            "labels": label_names,
            "output_function": OUTPUT_FUNCTION[task],
            "n_train": len(train_texts),
            "n_targets": len(target_texts),
            "device": str(device),
            "batch_size": used_batch_size,
            "autocast": None if autocast is None else str(autocast).removeprefix("torch."),
            "members": [m.describe() for m in members],
            "train_hash": dataset_hash(train),
            "targets_hash": dataset_hash(targets),
            **info,
            "timings": timings,
            "peak_rss_mb": round(_peak_rss_mb(), 1),
            "peak_cuda_mb": round(torch.cuda.max_memory_allocated() / 2**20, 1) if device.type == "cuda" else None,
            "scores_hash": sha256_file(tmp / SCORES_FILE),
            "self_influence_hash": sha256_file(tmp / SELF_INFLUENCE_FILE),
            **(
                {"member_scores_hash": sha256_file(tmp / MEMBER_SCORES_FILE)}
                if (tmp / MEMBER_SCORES_FILE).is_file()
                else {}
            ),
        }
        atomic_write_json(tmp / PARAMS_FILE, params)
    return Attribution.open(out_dir)


@dataclass
class _Job:
    """One attribution run's inputs and outputs, shared by the two engines."""

    cfg: AttributionConfig
    task: str
    members: list[EnsembleMember]
    device: torch.device
    autocast: torch.dtype | None
    train: tuple[list[Example], list[int] | None]
    targets: tuple[list[Example], list[int] | None]
    work: Path
    scores: NpyRows
    member_scores: NpyRows | None  # each member's own scores (`keeps_member_scores`), for intervals over members
    steps: Steps
    timings: dict[str, float]
    batch_size: int | None  # None until fitted to the GPU (olab engine on CUDA)
    shard_storage: str  # where executor 'ray' keeps feature shards (fsspec URL or local path)
    tokenizer: Any = None

    def batches(self, which: str) -> Callable[[], Iterable[dict]]:
        """A re-iterable source of encoded batches, built exactly as fine-tuning builds them."""
        from olab.adapters.data import iter_batches

        texts, labels = self.train if which == "train" else self.targets

        def gen() -> Iterable[dict]:
            for _, b in iter_batches(self.tokenizer, texts, labels, self.task, self.cfg.max_length, self.batch_size):
                yield b

        return gen

    def load(self, member: EnsembleMember) -> Any:
        model, self.tokenizer = member.load()
        return model

    def probe_batch_size(self, featurizer: Featurizer) -> int:
        """The largest batch (≤ CUDA_PROBE_START, halving) whose longest examples featurize in the GPU's memory."""
        from olab.adapters.data import encode

        texts = self.train[0] + self.targets[0]
        labels = None if self.train[1] is None else self.train[1] + self.targets[1]
        ids = self.tokenizer(texts, truncation=True, max_length=self.cfg.max_length)["input_ids"]
        longest = np.argsort([len(x) for x in ids], kind="stable")[::-1]

        def run(b: int) -> None:
            rows = longest[:b].tolist()
            batch = encode(self.tokenizer, [texts[i] for i in rows], None if labels is None else
                           [labels[i] for i in rows], self.task, self.cfg.max_length)  # fmt: skip
            featurizer.featurize(batch)

        t0 = time.perf_counter()
        fitted = fit_batch_size(run, min(CUDA_PROBE_START, len(texts)))
        self.timings["fit_batch_size_s"] = time.perf_counter() - t0
        return fitted

    def run_olab(self) -> dict[str, Any]:
        if self.cfg.executor == "ray":
            from olab.attribution.ray_executor import run_on_ray

            return {**run_on_ray(self), "self_influence_definition": OLAB_SELF_INFLUENCE}
        cfg, n_train, n_targets = self.cfg, len(self.train[0]), len(self.targets[0])
        projector: Projector | None = None
        scored: list[Member] = []
        t0 = time.perf_counter()
        for i, member in enumerate(self.members):
            model = self.load(member)
            if projector is None and cfg.proj_dim:
                blocks = gradient_blocks(gradient_layout(mark_adapter_trainable(model)))
                projector = make_projector(cfg.projection, blocks, cfg.proj_dim, cfg.proj_seed, self.device)
            featurizer = Featurizer(model, self.task, projector, device=self.device, autocast_dtype=self.autocast)
            if self.batch_size is None:
                self.batch_size = self.probe_batch_size(featurizer)
            rows_per_shard = shard_rows(cfg.shard_size, self.batch_size)
            k, grad_dim = featurizer.dim, featurizer.grad_dim
            if projector is None:
                check_exact(grad_dim)
            tag = f"[{i + 1}/{len(self.members)}]"
            train_f = write_features(
                featurizer.featurize, self.batches("train")(), n_train, k, self.work / f"train_{i}.npy",
                on_batch=self.steps.next(f"featurize train {tag}", n_train), shard_rows=rows_per_shard,
            )  # fmt: skip
            target_f = write_features(
                featurizer.featurize, self.batches("targets")(), n_targets, k, self.work / f"targets_{i}.npy",
                on_batch=self.steps.next(f"featurize targets {tag}", n_targets), shard_rows=rows_per_shard,
            )  # fmt: skip
            scored.append(Member(train_f, target_f))
            del model, featurizer
        self.timings["featurize_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        self_influence, lams = score(
            scored, cfg.damping, self.scores, cfg.score_block_size, self.device, self.steps.next("score", n_train),
            members_out=self.member_scores,
        )  # fmt: skip
        self.timings["score_s"] = time.perf_counter() - t0
        return {
            "self_influence": self_influence,
            "projection": projector.describe() if projector else {"kind": "none (exact)", "k": k, "seed": None},
            "grad_dim": grad_dim,
            "feature_dim": k,
            "damping_lambda": lams,
            "self_influence_definition": OLAB_SELF_INFLUENCE,
            "executor": {"kind": "local", "shard_rows": rows_per_shard},
        }

    def run_traker(self) -> dict[str, Any]:
        from olab.attribution.traker_engine import traker_scores

        cfg, n_train, n_targets = self.cfg, len(self.train[0]), len(self.targets[0])
        totals = {"train": n_train * len(self.members), "targets": n_targets * len(self.members)}
        current: dict[str, Callable[[int], None]] = {}

        def on_batch(stage: str, n: int) -> None:
            if stage not in current:
                current[stage] = self.steps.next(f"traker {stage}", totals[stage])
            current[stage](n)

        t0 = time.perf_counter()
        self_influence, lams = traker_scores(
            [lambda m=m: self.load(m) for m in self.members], self.task, self.batches("train"),
            self.batches("targets"), n_train, n_targets, cfg.proj_dim, cfg.proj_seed, cfg.damping, self.device,
            self.work, self.scores, on_batch=on_batch,
        )  # fmt: skip
        self.timings["traker_s"] = time.perf_counter() - t0
        return {
            "self_influence": self_influence,
            "projection": {
                "kind": "traker " + ("BasicProjector" if cfg.proj_dim else "NoOpProjector (exact)"),
                "k": cfg.proj_dim,
                "seed": cfg.proj_seed,
            },
            "damping_lambda": lams,
            "self_influence_definition": "effect on the record's own loss: traker features·grads per member "
            "(leverage up to traker's scaling), times (mean Q_i)²",
        }
