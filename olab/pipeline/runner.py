"""`olab run`: Datanet -> fine-tune -> attribute -> rewards -> publish -> report, in one call.

Every stage's artifact is cached by the hash of its inputs (see `cache.py`): a second identical run
reuses them, and an interrupted run resumes from the last finished stage. The run directory is
assembled in a temporary directory and renamed into place only when every stage, publishing
included, has succeeded, so a failed run never leaves a half-written manifest.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

import olab
from olab import intervals
from olab import rewards as rewards_mod
from olab.adapters import Adapter, finetune
from olab.adapters.chat import generate, instruction_view
from olab.adapters.models import base_weight_hash, resolve_base_model
from olab.attribution import Attribution, attribute
from olab.datanet import Datanet
from olab.datanet.sources import load_source
from olab.detection import record_losses
from olab.errors import ConfigError, DatanetError
from olab.hashing import dataset_hash, hash_json
from olab.io import atomic_dir, atomic_write_json, read_json, writable_dir
from olab.names import share_names
from olab.pipeline.artifact import Run, parse_manifest, write_targets
from olab.pipeline.cache import cached, copy_entry
from olab.pipeline.config import RunConfig, load_config
from olab.pipeline.coverage import run_digests
from olab.pipeline.manifest import (
    RunLayout,
    as_recorded,
    compute_manifest_hash,
    compute_run_id,
    run_config_hash,
    run_dir_name,
)
from olab.pipeline.publish import publish
from olab.pipeline.reporting import write_report
from olab.progress import Progress, Tqdm, resolve, stage

LOSS_FILE = RunLayout(Path(".")).record_loss.name


@dataclass
class StageTimer:
    """Times each stage, reports it to the progress sink (start and end events), keeps the figures for the manifest."""

    sink: Progress
    timings: dict[str, float] = field(default_factory=dict)
    reused: dict[str, bool] = field(default_factory=dict)

    @contextmanager
    def __call__(self, name: str) -> Iterator[dict[str, bool]]:
        state = {"reused": False}
        with stage(self.sink, name) as report:
            t0 = time.perf_counter()
            yield state
            self.timings[name] = round(time.perf_counter() - t0, 3)
            self.reused[name] = state["reused"]
            report.end_message = "(cached)" if state["reused"] else ""


def check_inputs(cfg: RunConfig, dn: Datanet, targets: Any) -> None:
    """The checks that must pass before any heavy work starts."""
    if dn.manifest["record_count"] == 0:
        raise DatanetError(f"Datanet {dn.path} version {dn.version} has no accepted records; nothing to train on")
    if len(targets) == 0:
        raise ConfigError("targets: the target set is empty; point targets.source at examples to explain")
    unlabelled = [i for i, label in enumerate(targets["label"]) if label is None]
    if unlabelled:
        raise ConfigError(
            f"targets: rows {unlabelled[:5]}{' ...' if len(unlabelled) > 5 else ''} have no label (empty, null or "
            "NaN); every target needs one of the Datanet's labels"
        )
    if cfg.targets.generate and cfg.finetune.task != "causal_lm":
        raise ConfigError("targets.generate: true needs finetune.task 'causal_lm' (a classifier generates no answers)")
    unseen = sorted(set(targets["label"]) - set(dn.labels)) if cfg.finetune.task == "classification" else []
    if unseen:
        raise ConfigError(
            f"targets: labels {unseen} do not occur in the Datanet, whose labels are {dn.labels}; "
            "use a target set drawn from the same label set"
        )
    resolve_base_model(cfg.finetune.base_model)
    writable_dir(Path(cfg.run.runs_dir), "run.runs_dir")


ANSWERS_FILE = "answers.json"


def generated_targets(cfg: RunConfig, adapter: Adapter, targets: Any, cache: Path) -> tuple[Any, bool]:
    """The targets with each response replaced by the adapter's greedy answer (cached by adapter and prompts); the
    reference answers move to the `reference` column."""
    prompts = list(targets["text"])

    def build(tmp: Path) -> None:
        model, tokenizer = adapter.load()
        answers = generate(model, tokenizer, prompts, max_new_tokens=cfg.targets.max_new_tokens,
                           batch_size=cfg.finetune.eval_batch_size, max_length=cfg.finetune.max_length)  # fmt: skip
        atomic_write_json(tmp / ANSWERS_FILE, answers)

    inputs = {"adapter": adapter.hash, "prompts": hash_json(prompts), "max_new_tokens": cfg.targets.max_new_tokens}
    entry, hit = cached(cache, "generate", inputs, build)
    answers = read_json(entry / ANSWERS_FILE)
    return targets.rename_column("label", "reference").add_column("label", answers), hit


def run(
    config: RunConfig | str | Path,
    *,
    overrides: dict[str, Any] | None = None,
    datanet: Datanet | None = None,
    targets: Any | None = None,
    progress: bool | Progress = True,
) -> Run:
    """Run the whole pipeline for `config`; returns the `olab.Run` (its directory, manifest and artifacts).

    With `datanet`, that Datanet version is used as it is instead of building `config.datanet`, and with
    `targets` (a Dataset with text and label) those instead of loading `config.targets` (how `reproduce`
    re-runs on exactly the records and targets of a recorded run). `progress`: True for tqdm bars
    and stage lines, False for silence, or a callable receiving every stage's `olab.progress.Event`s.
    """
    cfg = config if isinstance(config, RunConfig) else load_config(config, overrides)
    sink = resolve(progress)
    with stage(sink, "run") as report:
        result = _run(cfg, datanet, targets, sink)
        report.end_message = f"{result.dir} (run id {result.run_id})"
    return result


def _run(cfg: RunConfig, datanet: Datanet | None, targets: Any | None, sink: Progress) -> Run:
    runs_dir = Path(cfg.run.runs_dir)
    cache = runs_dir / ".cache"
    timer = StageTimer(sink)
    started = time.perf_counter()

    with timer("datanet"):
        dn = datanet or Datanet.build(cfg.datanet, progress=isinstance(sink, Tqdm))
        if datanet is not None or dn.reused:  # stored records may have been edited since they were committed
            dn.verify()
        train = dn.to_hf()
        targets = targets if targets is not None else load_source(cfg.targets.source, cfg.targets.columns)
        if "reference" in targets.column_names:  # a recorded run's generated answers: start again from the references
            targets = targets.remove_columns("label").rename_column("reference", "label")
        check_inputs(cfg, dn, targets)
        targets_digest = dataset_hash(targets)
        # a causal LM trains on instruction records: the Datanet's text is the prompt, its label the response
        llm = cfg.finetune.task == "causal_lm"
        train_set, target_set = (instruction_view(train), instruction_view(targets)) if llm else (train, targets)

    with timer("finetune") as st:
        adapters, reused = [], []
        for i in range(cfg.run.models):
            fcfg = cfg.finetune.model_copy(update={"seed": cfg.finetune.seed + i})
            inputs = {"config": fcfg.model_dump(mode="json"), "datanet_root": dn.root, "targets": targets_digest}

            def build(tmp: Path, fcfg: Any = fcfg) -> None:
                finetune(dn, cfg=fcfg, out_dir=tmp, eval=target_set, progress=sink)

            entry, hit = cached(cache, "finetune", inputs, build)
            adapters.append(Adapter.open(entry))
            reused.append(hit)
        st["reused"] = all(reused)

    if cfg.targets.generate:
        with timer("generate") as st:
            targets, st["reused"] = generated_targets(cfg, adapters[0], targets, cache)
            target_set = instruction_view(targets)
            targets_digest = dataset_hash(targets)

    with timer("attribution") as st:
        inputs = {
            "config": cfg.attribution.model_dump(mode="json"),
            "adapters": [a.hash for a in adapters],
            "datanet_root": dn.root,
            "targets": targets_digest,
        }
        entry, st["reused"] = cached(
            cache,
            "attribution",
            inputs,
            lambda tmp: attribute(adapters, train_set, target_set, cfg.attribution, tmp, progress=sink),
        )
        attribution = Attribution.open(entry)

    with timer("detection") as st:  # each record's training loss, the second signal of olab.detection
        inputs = {
            "adapters": [a.hash for a in adapters],
            "datanet_root": dn.root,
            "max_length": cfg.finetune.max_length,
        }
        losses, st["reused"] = cached(
            cache,
            "record_loss",
            inputs,
            lambda tmp: np.save(tmp / LOSS_FILE, record_losses(adapters, train_set, cfg.finetune.max_length)),
        )

    with timer("rewards"):
        shares = rewards_mod.compute(attribution.by_record(dn), cfg.rewards)
        shares.intervals = intervals.for_run(attribution, dn, cfg.rewards)
        shares.names = share_names(dn.contributors, cfg.rewards.split.recipients() if cfg.rewards.split else {})

    manifest: dict[str, Any] = {
        "olab_version": olab.__version__,
        "name": cfg.run.name,
        "config": cfg.model_dump(mode="json"),
        "config_hash": run_config_hash(cfg.model_dump(mode="json")),
        "datanet": {
            "path": as_recorded(dn.path),
            "name": dn.name,
            "version": dn.version,
            "root": dn.root,
            "record_count": dn.manifest["record_count"],
            "metadata_hash": dn.metadata_hash,
        },
        "targets": {
            "hash": targets_digest,
            "count": len(targets),
            "path": RunLayout(Path(".")).targets.name,
            "generated": cfg.targets.generate,
        },
        "base_model": {
            "id": cfg.finetune.base_model,
            "weight_hash": base_weight_hash(cfg.finetune.base_model),
        },
        "adapter": {
            "path": RunLayout(Path(".")).adapters.as_posix(),
            "models": [a.hash for a in adapters],
            "hash": hash_json([a.hash for a in adapters]),
        },
        "attribution": {
            "path": RunLayout(Path(".")).attribution.as_posix(),
            "engine": cfg.attribution.engine,
            "config": cfg.attribution.model_dump(mode="json"),
            "shape": list(attribution.scores.shape),
            "scores_hash": attribution.scores_hash,
        },
        "rewards": {"path": "rewards.json", "root": shares.root, "policy": cfg.rewards.policy},
    }
    manifest["run_id"] = run_id = compute_run_id(manifest)
    layout = RunLayout(runs_dir / run_dir_name(run_id))

    with atomic_dir(layout.dir, overwrite=True) as tmp:
        staged = RunLayout(tmp)
        for i, a in enumerate(adapters):
            copy_entry(a.path, staged.adapter(i))
        copy_entry(attribution.path, staged.attribution)
        shutil.copyfile(losses / LOSS_FILE, staged.record_loss)
        write_targets(targets, staged.targets)
        shares.write(staged.rewards, run_id)
        manifest["files"] = run_digests(staged.dir)
        manifest["manifest_hash"] = compute_manifest_hash(manifest)

        with timer("publish"):
            manifest["chain"] = publish(cfg, manifest, dn, shares) if cfg.run.publish else {"backend": None}

        with timer("report"):
            write_report(_opened(staged.dir, {**manifest, "timings": dict(timer.timings)}, dn, targets, shares))

        manifest["timings"] = {**timer.timings, "total": round(time.perf_counter() - started, 3)}
        manifest["created_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        atomic_write_json(staged.manifest, manifest)

    return _opened(layout.dir, manifest, dn, targets, shares)


def _opened(path: Path, manifest: dict[str, Any], dn: Datanet, targets: Any, shares: rewards_mod.Rewards) -> Run:
    """The Run over `path`, holding what the run already has in memory instead of reopening it from disk."""
    opened = Run(path, parse_manifest(manifest), datanet_path=dn.path)
    opened.__dict__.update(datanet=dn, targets=targets, rewards=replace(shares, run_id=manifest["run_id"]))
    return opened
