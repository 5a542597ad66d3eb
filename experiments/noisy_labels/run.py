"""Noisy-label detection on AG News: does self-influence flag the records whose labels were flipped?

n_train records are dealt at random to `contributors` contributors; one of them has `flip_fraction` of
its labels replaced by a different class. An adapter (or an ensemble) is fine-tuned on all records,
TRAK attribution computes each record's self-influence, and the ROC AUC of self-influence as a
detector of the flipped records is reported, next to the AUC of the record's training loss (a
simple baseline) and the per-contributor influence table (the noisy contributor should rank last).

    .venv/bin/python experiments/noisy_labels/run.py --config configs/experiments/noisy_labels_agnews.yaml
    .venv/bin/python experiments/noisy_labels/run.py --quick --out /tmp/noisy
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from pydantic import Field, model_validator

from olab.adapters import Adapter, FinetuneConfig, finetune
from olab.attribution import Attribution, AttributionConfig, attribute
from olab.config import Section, config_hash, deep_merge, load, parse_overrides, validate
from olab.errors import ConfigError, exit_on_error
from olab.hashing import hash_json
from olab.io import atomic_write_json, atomic_write_text
from olab.metrics import adapter_outputs, roc_auc, roc_auc_interval

REPO = Path(__file__).resolve().parents[2]
DEFAULT_CONFIG = REPO / "configs" / "experiments" / "noisy_labels_agnews.yaml"

# --quick: tiny sizes, an end-to-end smoke run; the AUC it prints means little.
QUICK = {
    "data": {"n_train": 40, "n_targets": 8},
    "noise": {"contributors": 4, "flip_fraction": 0.5},
    "finetune": {"epochs": 1, "max_length": 32, "batch_size": 8, "checkpoints": 1},
    "attribution": {"proj_dim": 128, "max_length": 32},
}


class DataSection(Section):
    """Where the records and the targets come from."""

    dir: str = Field("../shared/data/agnews", description="Folder with the TSV files (relative to the repo).")
    train_file: str = Field("dev.tsv", description="TSV (text<TAB>label, no header) the records are sampled from.")
    target_file: str = Field("test.tsv", description="TSV the targets (for the contributor table) are sampled from.")
    n_train: int = Field(1000, ge=4, description="Training records.")
    n_targets: int = Field(100, ge=1, description="Targets whose scores aggregate to contributors.")
    seed: int = Field(0, ge=0, description="Seed of the samples.")


class NoiseSection(Section):
    """Who contributes what, and whose labels are flipped."""

    contributors: int = Field(5, ge=2, description="Records are dealt at random to this many contributors.")
    noisy_contributor: int = Field(0, ge=0, description="Index of the contributor whose labels are flipped.")
    flip_fraction: float = Field(0.2, gt=0, le=1, description="Fraction of that contributor's records flipped.")
    seed: int = Field(0, ge=0, description="Seed of the dealing and of the flips (each flip picks another class).")


class NoisyLabelsExperiment(Section):
    """The noisy-label detection experiment."""

    data: DataSection = Field(DataSection(), description="Records and targets.")
    noise: NoiseSection = Field(NoiseSection(), description="Contributors and label noise.")
    members: int = Field(1, ge=1, description="Adapters trained (seeds finetune.seed, +1, ...) and ensembled.")
    finetune: FinetuneConfig = Field(FinetuneConfig(eval_fraction=0.0), description="Fine-tuning recipe.")
    attribution: AttributionConfig = Field(AttributionConfig(), description="Attribution settings.")
    bootstrap: int = Field(1000, ge=0, description="Bootstrap resamples of records for the AUC interval.")

    @model_validator(mode="after")
    def _checks(self) -> NoisyLabelsExperiment:
        if self.noise.noisy_contributor >= self.noise.contributors:
            raise ValueError(
                f"noise.noisy_contributor={self.noise.noisy_contributor} must be below "
                f"noise.contributors={self.noise.contributors}"
            )
        if self.finetune.eval_fraction != 0:
            raise ValueError("finetune.eval_fraction must be 0: every record must be trained on to be attributed")
        if self.attribution.max_length != self.finetune.max_length:
            raise ValueError(
                f"attribution.max_length={self.attribution.max_length} must equal finetune.max_length="
                f"{self.finetune.max_length}: attribution must see the records as training saw them"
            )
        return self


def load_tsv(path: Path):
    """A TSV with `text<TAB>label` rows as a datasets.Dataset, loaded as a user would load hub data."""
    import datasets

    if not path.is_file():
        raise ConfigError(f"data file {path} does not exist (data.dir / data.*_file)")
    return datasets.load_dataset("csv", data_files={"rows": str(path)}, delimiter="\t", column_names=["text", "label"])[
        "rows"
    ]


def noisy_data(cfg: NoisyLabelsExperiment):
    """(train with noisy labels, targets, label names, contributor per record, flipped mask)."""
    root = (REPO / cfg.data.dir).resolve()
    train_all, target_all = load_tsv(root / cfg.data.train_file), load_tsv(root / cfg.data.target_file)
    rng = np.random.default_rng(cfg.data.seed)
    train = train_all.select(sorted(rng.choice(len(train_all), cfg.data.n_train, replace=False).tolist()))
    targets = target_all.select(sorted(rng.choice(len(target_all), cfg.data.n_targets, replace=False).tolist()))
    labels = sorted(set(train_all["label"]))

    noise = np.random.default_rng(cfg.noise.seed)
    contributor = noise.permutation(np.arange(len(train)) % cfg.noise.contributors)
    own = np.flatnonzero(contributor == cfg.noise.noisy_contributor)
    flip_rows = noise.choice(own, round(cfg.noise.flip_fraction * len(own)), replace=False)
    flipped = np.zeros(len(train), dtype=bool)
    flipped[flip_rows] = True
    clean = list(train["label"])
    noisy = [
        labels[(labels.index(y) + 1 + int(noise.integers(len(labels) - 1))) % len(labels)] if f else y
        for y, f in zip(clean, flipped, strict=True)
    ]
    train = train.remove_columns("label").add_column("label", noisy).add_column("clean_label", clean)
    names = [f"contributor-{c}" for c in contributor]
    return train, targets, labels, names, flipped


def train_members(cfg: NoisyLabelsExperiment, train, labels: list[str], out: Path) -> list[Adapter]:
    """The ensemble's adapters on the noisy records, cached by the hash of their inputs."""
    members = []
    for i in range(cfg.members):
        ft = cfg.finetune.model_copy(update={"seed": cfg.finetune.seed + i})
        key = hash_json({"finetune": config_hash(ft), "data": cfg.data.model_dump(), "noise": cfg.noise.model_dump()})
        path = out / "members" / f"seed-{ft.seed}-{key[7:19]}"
        if not (path / "provenance.json").is_file():
            print(f"[noisy] fine-tuning member {i + 1}/{cfg.members} on {len(train)} records", flush=True)
            finetune(train.remove_columns("clean_label"), labels, ft, path, progress=False, overwrite=True)
        members.append(Adapter.open(path))
    return members


def run(cfg: NoisyLabelsExperiment, out: Path) -> dict:
    """The whole experiment; returns the results dict also written to out/results.json."""
    out.mkdir(parents=True, exist_ok=True)
    train, targets, labels, contributors, flipped = noisy_data(cfg)
    members = train_members(cfg, train, labels, out)
    weights = [a.provenance["adapter_hash"] for a in members]  # recorded at training: stable across olab versions
    key = hash_json({"attribution": config_hash(cfg.attribution), "members": weights})
    attr_dir = out / "attribution" / key[7:19]
    if (attr_dir / "attribution.json").is_file():
        result = Attribution.open(attr_dir)
    else:
        print(f"[noisy] attributing {len(train)} records with {cfg.members} member(s)", flush=True)
        result = attribute(members, train, targets, cfg.attribution, attr_dir, progress=False)
    self_influence = np.asarray(result.self_influence, dtype=np.float64)
    outputs = [
        adapter_outputs(a, list(train["text"]), list(train["label"]), max_length=cfg.finetune.max_length)
        for a in members
    ]
    loss = -np.mean([margins for margins, _ in outputs], axis=0)  # -margin: monotone in the given label's loss
    fits = np.mean([correct for _, correct in outputs], axis=0)
    own = np.array(contributors) == f"contributor-{cfg.noise.noisy_contributor}"
    table = result.contributor_table(contributors)
    order = table["contributor"].tolist()
    noisy_name = f"contributor-{cfg.noise.noisy_contributor}"
    results = {
        "n_train": len(train),
        "n_flipped": int(flipped.sum()),
        "contributors": cfg.noise.contributors,
        "members": cfg.members,
        "self_influence": roc_auc_interval(self_influence, flipped, cfg.bootstrap),
        "self_influence_within_noisy_contributor": roc_auc(self_influence[own], flipped[own]),
        "loss_baseline": roc_auc_interval(loss, flipped, cfg.bootstrap),
        "train_accuracy_on_given_labels": float(fits.mean()),
        "flipped_records_fit": float(fits[flipped].mean()),
        "noisy_contributor_rank_by_total_influence": order.index(noisy_name) + 1,
        "contributor_table": table.to_dict(orient="records"),
        "self_influence_definition": result.params.get("self_influence_definition"),
        "attribution_seconds": result.params["timings"]["total_s"],
        "config": cfg.model_dump(mode="json"),
        "config_hash": config_hash(cfg),
    }
    atomic_write_json(out / "results.json", results)
    si, lb = results["self_influence"], results["loss_baseline"]
    lines = [
        f"# Noisy-label detection on AG News: {len(train)} records, {results['n_flipped']} flipped "
        f"({cfg.noise.flip_fraction:.0%} of contributor {cfg.noise.noisy_contributor}'s), {cfg.members} member(s)",
        "",
        "| detector | ROC AUC | 95% CI |",
        "| --- | --- | --- |",
        f"| self-influence | {si['auc']:.4f} | [{si['ci_low']:.4f}, {si['ci_high']:.4f}] |",
        f"| training loss (baseline) | {lb['auc']:.4f} | [{lb['ci_low']:.4f}, {lb['ci_high']:.4f}] |",
        "",
        f"Self-influence AUC within the noisy contributor's records: "
        f"{results['self_influence_within_noisy_contributor']:.4f}. The noisy contributor ranks "
        f"{results['noisy_contributor_rank_by_total_influence']} of {cfg.noise.contributors} by total influence.",
        "",
        *markdown_table(table),
        "",
    ]
    report = "\n".join(lines)
    atomic_write_text(out / "results.md", report)
    print(report, flush=True)
    return results


def markdown_table(frame) -> list[str]:
    """A pandas DataFrame as markdown table lines (floats to 4 significant digits)."""
    cols = list(frame.columns)
    fmt = lambda v: f"{v:.4g}" if isinstance(v, float) else str(v)  # noqa: E731
    rows = [" | ".join(fmt(v) for v in row) for row in frame.itertuples(index=False)]
    return [f"| {' | '.join(cols)} |", f"|{' --- |' * len(cols)}", *(f"| {r} |" for r in rows)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="YAML config (NoisyLabelsExperiment).")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "out", help="Output and cache folder.")
    parser.add_argument("--quick", action="store_true", help="Tiny sizes: an end-to-end smoke run.")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="Override a key: a.b=value.")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch CPU threads (1 suits a shared machine: more threads contend)."
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    overrides = deep_merge(QUICK if args.quick else {}, parse_overrides(args.overrides))
    cfg = (
        load(NoisyLabelsExperiment, args.config, overrides)
        if args.config
        else validate(NoisyLabelsExperiment, overrides)
    )
    started = time.perf_counter()
    run(cfg, args.out)
    print(f"[noisy] done in {time.perf_counter() - started:.0f}s", flush=True)
    return 0


if __name__ == "__main__":
    with exit_on_error():
        sys.exit(main())
