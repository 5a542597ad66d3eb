"""LDS on AG News: does each attribution method predict what retraining on half the data does?

Steps (each cached on disk under the output folder, so an interrupted run resumes):
  1. sample n_train training examples (dev.tsv) and n_targets targets (test.tsv);
  2. fine-tune `max(members)` adapters on the full training sample (seeds seed, seed+1, ...): the ensemble;
  3. draw m random half subsets; fine-tune a fresh adapter on each (same recipe) and measure every
     target's classification margin: the outputs LDS compares against;
  4. attribute with each method (olab TRAK with 1 and 5 members, traker, gradient dot product);
  5. LDS per method with its bootstrap interval and count of undefined targets -> results.{json,md}.

    .venv/bin/python experiments/lds/run.py --config configs/experiments/lds_agnews.yaml
    .venv/bin/python experiments/lds/run.py --config configs/experiments/lds_agnews.yaml --quick --out /tmp/lds
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import shutil
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from pydantic import Field, model_validator

from olab.adapters import Adapter, FinetuneConfig, finetune
from olab.attribution import AttributionConfig, attribute
from olab.config import Section, config_hash, deep_merge, load, parse_overrides, validate
from olab.errors import ConfigError, exit_on_error
from olab.hashing import hash_json
from olab.io import atomic_write_json, atomic_write_text, read_json
from olab.metrics import adapter_outputs, lds, paired_difference, random_subsets

REPO = Path(__file__).resolve().parents[2]
DEFAULT_CONFIG = REPO / "configs" / "experiments" / "lds_agnews.yaml"

# --quick: the whole experiment shrunk to run end to end in well under a minute (CI, smoke tests).
QUICK = {
    "data": {"n_train": 16, "n_targets": 8},
    "subsets": {"m": 4},
    "methods": [
        {"name": "olab-1", "engine": "olab", "members": 1},
        {"name": "olab-2", "engine": "olab", "members": 2},
        {"name": "grad-dot-1", "engine": "olab", "members": 1, "preconditioner": "identity"},
    ],
    "finetune": {"epochs": 1, "max_length": 32, "batch_size": 8, "checkpoints": 1},
    "attribution": {"proj_dim": 128, "max_length": 32},
    "bootstrap": 200,
}


class DataSection(Section):
    """Where the examples come from and how many."""

    dir: str = Field("../shared/data/agnews", description="Folder with train/target TSV files (relative to the repo).")
    train_file: str = Field("dev.tsv", description="TSV (text<TAB>label, no header) to sample training examples from.")
    target_file: str = Field("test.tsv", description="TSV to sample the targets (whose margins are explained) from.")
    n_train: int = Field(1000, ge=4, description="Training examples (random sample of train_file).")
    n_targets: int = Field(200, ge=1, description="Targets (random sample of target_file).")
    seed: int = Field(0, ge=0, description="Seed of both samples.")


class SubsetsSection(Section):
    """The retraining subsets LDS is measured on."""

    m: int = Field(50, ge=3, description="Number of random subsets; a fresh adapter is trained on each.")
    fraction: float = Field(0.5, gt=0, lt=1, description="Fraction of the training examples in each subset.")
    seed: int = Field(0, ge=0, description="Seed of the subset draw.")
    vary_seed: bool = Field(
        False,
        description="false: every subset retrain uses finetune.seed (same recipe, only the data differs); "
        "true: subset j uses finetune.seed + 1000 + j (LDS then also averages over initialisation noise).",
    )


class Method(Section):
    """One attribution method evaluated by LDS."""

    name: str = Field(description="Row name in the results table.")
    engine: Literal["olab", "traker"] = Field("olab", description="attribution.engine for this method.")
    members: int = Field(1, ge=1, description="Ensemble size: adapters trained on the full sample with seeds "
                         "finetune.seed, finetune.seed+1, ...")  # fmt: skip
    preconditioner: Literal["trak", "identity"] = Field(
        "trak",
        description="'trak': TRAK's (ΦᵀΦ + λI)⁻¹; 'identity': the gradient-dot-product baseline Q_i·φ_i·φ'_t (the "
        "training loss gradient dotted with the target output gradient), the same features with the inverse "
        "replaced by the identity.",
    )
    damping: float | None = Field(
        None, ge=0, description="Overrides attribution.damping for this method (TRAK only); null keeps it."
    )

    @model_validator(mode="after")
    def _damping_needs_trak(self) -> Method:
        if self.damping is not None and self.preconditioner == "identity":
            raise ValueError(f"method {self.name!r}: damping applies to preconditioner 'trak', not 'identity'")
        return self


class LDSExperiment(Section):
    """The LDS experiment: data, subsets, methods, and the fine-tuning and attribution recipes."""

    data: DataSection = Field(DataSection(), description="Training and target samples.")
    subsets: SubsetsSection = Field(SubsetsSection(), description="Retraining subsets.")
    methods: list[Method] = Field(
        [
            Method(name="olab-1", engine="olab", members=1),
            Method(name="olab-5", engine="olab", members=5),
            Method(name="traker-1", engine="traker", members=1),
            Method(name="grad-dot-1", engine="olab", members=1, preconditioner="identity"),
        ],
        description="Attribution methods to evaluate.",
    )
    finetune: FinetuneConfig = Field(FinetuneConfig(eval_fraction=0.0), description="Recipe for every adapter.")
    attribution: AttributionConfig = Field(AttributionConfig(), description="Attribution settings shared by methods.")
    compare_to: str | None = Field(
        "olab-1",
        description="Method every other method is compared with: the per-target LDS difference and its paired "
        "bootstrap interval (shared target and retraining noise cancels). null: no comparison.",
    )
    bootstrap: int = Field(1000, ge=0, description="Bootstrap resamples of targets for the LDS interval.")
    confidence: float = Field(0.95, gt=0, lt=1, description="Coverage of the bootstrap interval.")

    @model_validator(mode="after")
    def _checks(self) -> LDSExperiment:
        names = [m.name for m in self.methods]
        if len(set(names)) != len(names):
            raise ValueError(f"method names must be unique, got {names}")
        if self.compare_to is not None and self.compare_to not in names:
            raise ValueError(f"compare_to={self.compare_to!r} must name one of the methods {names}")
        if self.finetune.eval_fraction != 0:
            raise ValueError(
                "finetune.eval_fraction must be 0: every training example must be trained on, or the subsets "
                "and the attributed model would not be what the masks say"
            )
        if self.attribution.max_length != self.finetune.max_length:
            raise ValueError(
                f"attribution.max_length={self.attribution.max_length} must equal finetune.max_length="
                f"{self.finetune.max_length}: attribution must see the examples as training saw them"
            )
        return self


# ---------------------------------------------------------------- data


def load_tsv(path: Path):
    """A TSV with `text<TAB>label` rows as a datasets.Dataset, loaded as a user would load hub data."""
    import datasets

    if not path.is_file():
        raise ConfigError(f"data file {path} does not exist (data.dir / data.*_file)")
    return datasets.load_dataset("csv", data_files={"rows": str(path)}, delimiter="\t", column_names=["text", "label"])[
        "rows"
    ]


def load_data(cfg: DataSection):
    """(train, targets, label names): seeded random samples of the two files."""
    root = (REPO / cfg.dir).resolve()
    train_all, target_all = load_tsv(root / cfg.train_file), load_tsv(root / cfg.target_file)
    for name, ds, n in (("n_train", train_all, cfg.n_train), ("n_targets", target_all, cfg.n_targets)):
        if n > len(ds):
            raise ConfigError(f"data.{name}={n} but the file has only {len(ds)} rows")
    rng = np.random.default_rng(cfg.seed)
    train = train_all.select(sorted(rng.choice(len(train_all), cfg.n_train, replace=False).tolist()))
    targets = target_all.select(sorted(rng.choice(len(target_all), cfg.n_targets, replace=False).tolist()))
    labels = sorted(set(train_all["label"]))
    return train, targets, labels


# ---------------------------------------------------------------- retraining and measuring


def member_path(cfg: LDSExperiment, i: int, out: Path) -> Path:
    """Where ensemble member i (seed finetune.seed + i) lives; the name carries the hash of its inputs."""
    ft = member_recipe(cfg, i)
    key = hash_json({"finetune": config_hash(ft), "data": cfg.data.model_dump()})[7:19]
    return out / "members" / f"seed-{ft.seed}-{key}"


def subset_path(cfg: LDSExperiment, j: int, out: Path) -> Path:
    """Where subset j's retraining result (target margins) is cached, under the hash of the recipe and data."""
    key = hash_json({"finetune": config_hash(cfg.finetune), "data": cfg.data.model_dump(),
                     "vary_seed": cfg.subsets.vary_seed})[7:19]  # fmt: skip
    return out / "subsets" / key / f"{j:03d}.json"


# The two fine-tune jobs take the recipe (a FinetuneConfig with the job's seed), not the experiment's config:
# as Ray tasks they are shipped by value, and olab's classes import on any worker where this script's may not.


def member_recipe(cfg: LDSExperiment, i: int) -> FinetuneConfig:
    return cfg.finetune.model_copy(update={"seed": cfg.finetune.seed + i})


def subset_recipe(cfg: LDSExperiment, j: int) -> FinetuneConfig:
    seed = cfg.finetune.seed + 1000 + j if cfg.subsets.vary_seed else cfg.finetune.seed
    return cfg.finetune.model_copy(update={"seed": seed})


def train_member(ft: FinetuneConfig, train, labels: list[str], i: int, path: Path) -> None:
    """Fine-tune ensemble member i on the full training sample into `path`."""
    started = time.perf_counter()
    finetune(train, labels, ft, path, progress=False, overwrite=True)
    print(
        f"[lds] member {i + 1}: fine-tuned on {len(train)} examples in {time.perf_counter() - started:.0f}s", flush=True
    )


def retrain_subset(ft: FinetuneConfig, train, targets, labels: list[str], mask: np.ndarray, j: int, path: Path) -> None:
    """Fine-tune a fresh adapter on subset j, measure the targets' margins, cache them as JSON at `path`."""
    started = time.perf_counter()
    path.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{j:03d}.", suffix=".adapter"))
    try:
        adapter = finetune(
            train.select(np.flatnonzero(mask).tolist()), labels, ft, work, progress=False, overwrite=True
        )
        margins, correct = adapter_outputs(
            adapter, list(targets["text"]), list(targets["label"]), max_length=ft.max_length,
            batch_size=ft.eval_batch_size,
        )  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)
    seconds = time.perf_counter() - started
    atomic_write_json(
        path,
        {"subset": j, "mask_hash": mask_hash(mask), "seed": ft.seed, "adapter_hash": adapter.hash, "seconds": seconds,
         "accuracy": float(correct.mean()), "margins": margins.tolist()},
    )  # fmt: skip
    print(f"[lds] subset {j + 1}: retrained in {seconds:.0f}s, target accuracy {correct.mean():.3f}", flush=True)


def mask_hash(mask: np.ndarray) -> str:
    return hash_json(np.flatnonzero(mask).tolist())


def retrain_all(
    cfg: LDSExperiment,
    train,
    targets,
    labels: list[str],
    masks: np.ndarray,
    out: Path,
    workers: int,
    threads: int,
    ray_address: str | None = None,
    executor: str = "local",
) -> tuple[list[Adapter], np.ndarray, float]:
    """Every fine-tune the experiment needs (ensemble members, then subsets), skipping those cached on disk.

    With workers > 1 they run in that many processes (each with `threads` torch threads); with executor 'ray'
    they are Ray tasks of `threads` CPUs each, on a one-machine Ray of `workers` × `threads` CPUs or the
    cluster at `ray_address`.
    Returns (ensemble adapters, (m, n_targets) subset margins, mean target accuracy of the subset models).
    """
    count = max(m.members for m in cfg.methods)
    jobs = [(train_member, (member_recipe(cfg, i), train, labels, i, member_path(cfg, i, out))) for i in range(count)
            if not (member_path(cfg, i, out) / "provenance.json").is_file()]  # fmt: skip
    for j, mask in enumerate(masks):
        path = subset_path(cfg, j, out)
        if not (path.is_file() and read_json(path)["mask_hash"] == mask_hash(mask)):
            jobs.append((retrain_subset, (subset_recipe(cfg, j), train, targets, labels, mask, j, path)))
    if jobs:
        print(f"[lds] {len(jobs)} fine-tunes to run ({workers} worker(s))", flush=True)
    if executor == "ray" and jobs:
        run_on_ray(jobs, workers, threads, ray_address)
    elif workers == 1:
        for fn, args in jobs:
            fn(*args)
    elif jobs:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(
            workers, mp_context=context, initializer=torch.set_num_threads, initargs=(threads,)
        ) as pool:
            for future in [pool.submit(fn, *args) for fn, args in jobs]:
                future.result()
    members = [Adapter.open(member_path(cfg, i, out)) for i in range(count)]
    cached = [read_json(subset_path(cfg, j, out)) for j in range(len(masks))]
    outputs = np.array([c["margins"] for c in cached], dtype=np.float64)
    return members, outputs, float(np.mean([c["accuracy"] for c in cached]))


def _job(fn, args: tuple, threads: int) -> None:
    torch.set_num_threads(threads)
    fn(*args)


def run_on_ray(jobs: list, workers: int, threads: int, address: str | None) -> None:
    """Each fine-tune as a Ray task of `threads` CPUs. Ray reruns a task whose worker died (max_retries); a rerun
    rewrites the same cached file, and an interrupted experiment resumes from the files already written."""
    from olab.attribution.ray_executor import connect

    ray, owned = connect(address, workers * threads)
    if __name__ != "__main__":  # loaded as a module the workers cannot import (tests): ship this file's code
        ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    task = ray.remote(num_cpus=threads, max_retries=3)(_job)
    try:
        ray.get([task.remote(fn, args, threads) for fn, args in jobs])
    finally:
        if owned:
            ray.shutdown()


# ---------------------------------------------------------------- attribution methods


# With λ = damping·trace(ΦᵀΦ)/min(n, k) this large, (ΦᵀΦ + λI)⁻¹ = I/λ up to a relative error below k/damping
# (~2e-6 for k = 2048), so TRAK's formula becomes Q_i·φ_i·φ'_t / λ: the gradient dot product, ranked alike.
IDENTITY_DAMPING = 1e9


def method_attribution(cfg: LDSExperiment, method: Method) -> AttributionConfig:
    """The attribution settings of one method: the shared ones with its engine and its damping."""
    if method.preconditioner == "identity":
        damping = IDENTITY_DAMPING
    else:
        damping = cfg.attribution.damping if method.damping is None else method.damping
    return cfg.attribution.model_copy(update={"engine": method.engine, "damping": damping})


def method_scores(
    cfg: LDSExperiment, method: Method, members: list[Adapter], train, targets, out: Path
) -> tuple[np.ndarray, float]:
    """(n_train, n_targets) scores of one method and the seconds they took; cached by the hash of its inputs."""
    attr_cfg = method_attribution(cfg, method)
    used = members[: method.members]
    # members by the weights' hash recorded when they were trained: stable however Adapter.hash evolves
    weights = [a.provenance["adapter_hash"] for a in used]
    key = hash_json({"attribution": config_hash(attr_cfg), "members": weights, "data": cfg.data.model_dump()})[7:19]
    path = out / "scores" / f"{method.name}-{key}.npy"
    meta = path.with_suffix(".json")
    if path.is_file() and meta.is_file():
        return np.load(path), read_json(meta)["seconds"]
    work = out / "scores" / f".{method.name}.work"
    shutil.rmtree(work, ignore_errors=True)
    try:
        result = attribute(used, train, targets, attr_cfg, work, progress=False)
        scores = np.array(result.scores, dtype=np.float64)
        seconds = result.params["timings"]["total_s"]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        np.save(f, scores)
    tmp.replace(path)
    atomic_write_json(meta, {"method": method.model_dump(), "attribution": attr_cfg.model_dump(mode="json"),
                             "members": [str(a.path) for a in used], "seconds": seconds})  # fmt: skip
    return scores, seconds


# ---------------------------------------------------------------- report


def write_report(rows: list[dict], header: dict, out: Path) -> str:
    """results.json and a markdown table; returns the table."""
    atomic_write_json(out / "results.json", {**header, "methods": rows})
    ref = header["compare_to"]
    lines = [
        f"# LDS on AG News: {header['n_train']} training examples, {header['n_targets']} targets, "
        f"{header['m']} subsets of {header['fraction']:.0%}",
        "",
        f"| method | engine | members | preconditioner | damping | LDS | {header['confidence']:.0%} CI | undefined targets "
        f"| attribution s |{f' LDS − {ref} [paired CI] |' if ref else ''}",
        f"|{' --- |' * (10 if ref else 9)}",
    ]
    for r in rows:
        vs = r.get(f"vs_{ref}")
        lines.append(
            f"| {r['name']} | {r['engine']} | {r['members']} | {r['preconditioner']} | {r['damping_used']} | "
            f"{r['lds']:.4f} | [{r['ci_low']:.4f}, {r['ci_high']:.4f}] | {r['n_undefined']}/{header['n_targets']} | "
            f"{r['seconds']:.1f} |"
            + (f" {vs['diff']:+.4f} [{vs['ci_low']:+.4f}, {vs['ci_high']:+.4f}] |" if vs else "")
        )
    lines += ["", f"Mean subset-model target accuracy: {header['subset_accuracy']:.3f}; "
              f"config hash {header['config_hash']}.", ""]  # fmt: skip
    table = "\n".join(lines)
    atomic_write_text(out / "results.md", table)
    return table


def run(
    cfg: LDSExperiment,
    out: Path,
    *,
    workers: int = 1,
    threads: int = 1,
    executor: str = "local",
    ray_address: str | None = None,
) -> dict:
    """The whole experiment; returns the results dict also written to out/results.json."""
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    train, targets, labels = load_data(cfg.data)
    masks = random_subsets(len(train), cfg.subsets.m, cfg.subsets.fraction, cfg.subsets.seed)
    started = time.perf_counter()
    members, outputs, subset_accuracy = retrain_all(
        cfg, train, targets, labels, masks, out, workers, threads, ray_address, executor
    )
    print(
        f"[lds] fine-tunes done in {time.perf_counter() - started:.0f}s ({executor}, {workers} worker(s))", flush=True
    )
    rows, results = [], {}
    for method in cfg.methods:
        print(f"[lds] attributing with {method.name}", flush=True)
        scores, seconds = method_scores(cfg, method, members, train, targets, out)
        res = results[method.name] = lds(scores, masks, outputs, bootstrap=cfg.bootstrap, confidence=cfg.confidence)
        damping = "-" if method.preconditioner == "identity" else method_attribution(cfg, method).damping
        rows.append({**method.model_dump(), "damping_used": damping, **res.to_dict(), "seconds": seconds})
    if cfg.compare_to is not None:
        for row in rows:
            diff = paired_difference(
                results[row["name"]], results[cfg.compare_to], bootstrap=cfg.bootstrap, confidence=cfg.confidence
            )
            row["vs_" + cfg.compare_to] = dict(zip(("diff", "ci_low", "ci_high"), diff, strict=True))
    header = {
        "n_train": len(train), "n_targets": len(targets), "m": len(masks), "fraction": cfg.subsets.fraction,
        "confidence": cfg.confidence, "subset_accuracy": subset_accuracy, "compare_to": cfg.compare_to,
        "config": cfg.model_dump(mode="json"), "config_hash": config_hash(cfg),
    }  # fmt: skip
    print(write_report(rows, header, out), flush=True)
    return {**header, "methods": rows}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="YAML config (LDSExperiment).")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "out", help="Output and cache folder.")
    parser.add_argument("--quick", action="store_true", help="Tiny sizes: an end-to-end smoke run (< 1 minute).")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="Override a key: a.b=value.")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch CPU threads (1 suits a shared machine: more threads contend)."
    )
    parser.add_argument("--workers", type=int, default=1, help="Processes that run the fine-tunes in parallel.")
    parser.add_argument(
        "--executor", choices=["local", "ray"], default="local",
        help="'ray': the fine-tunes are Ray tasks (pip install 'olab[ray]'), on --ray-address or a one-machine Ray.",
    )  # fmt: skip
    parser.add_argument("--ray-address", default=None, help="Ray cluster for --executor ray ('auto', 'host:6379').")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    overrides = deep_merge(QUICK if args.quick else {}, parse_overrides(args.overrides))
    cfg = load(LDSExperiment, args.config, overrides) if args.config else validate(LDSExperiment, overrides)
    with contextlib.suppress(BrokenPipeError):
        run(cfg, args.out, workers=args.workers, threads=args.threads, executor=args.executor,
            ray_address=args.ray_address)  # fmt: skip
    return 0


if __name__ == "__main__":
    with exit_on_error():
        sys.exit(main())
