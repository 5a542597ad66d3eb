"""On a real fine-tuned all-MiniLM-L6-v2 LoRA adapter (AG News with flipped labels): olab and traker agree,
and flipped-label records stand out by self-influence."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from datasets import Dataset
from repo_paths import AGNEWS, needs_agnews
from scipy.stats import spearmanr
from sklearn.metrics import roc_auc_score

from olab.attribution import attribute

pytestmark = [pytest.mark.slow, needs_agnews, pytest.mark.xdist_group("minilm")]  # one worker: one noisy_setup

LABELS = ["World", "Sports", "Business", "Sci/Tech"]
N_TRAIN, N_FLIP, N_TARGETS = 128, 26, 6


def read(split: str, n: int) -> tuple[list[str], list[str]]:
    rows = [line.split("\t") for line in (AGNEWS / f"{split}.tsv").read_text().splitlines()[:n]]
    return [r[0] for r in rows], [r[1].strip() for r in rows]


@pytest.fixture(scope="module")
def noisy_setup(tmp_path_factory):
    from olab.adapters import finetune

    texts, labels = read("dev", N_TRAIN)
    rng = random.Random(0)
    flipped = sorted(rng.sample(range(N_TRAIN), N_FLIP))
    for i in flipped:
        labels[i] = rng.choice([x for x in LABELS if x != labels[i]])
    train = Dataset.from_dict({"text": texts, "label": labels})
    t_texts, t_labels = read("test", N_TARGETS)
    targets = Dataset.from_dict({"text": t_texts, "label": t_labels})
    cfg = {"epochs": 3, "batch_size": 8, "max_length": 32, "learning_rate": 2e-3, "checkpoints": 1,
           "eval_fraction": 0.0, "device": "cpu"}  # fmt: skip
    adapter = finetune(train, LABELS, cfg, tmp_path_factory.mktemp("minilm") / "adapter", progress=False)
    is_flipped = np.isin(np.arange(N_TRAIN), flipped)
    return adapter, train, targets, is_flipped


CFG = {"batch_size": 16, "max_length": 32, "proj_dim": 1024}


def test_olab_and_traker_agree_on_a_fine_tuned_adapter(noisy_setup, tmp_path):
    adapter, train, targets, _ = noisy_setup
    train = train.select(range(32))  # traker's vmap over all 22M parameters is slow: a subset suffices
    ours = attribute(adapter, train, targets, CFG, tmp_path / "olab", progress=False)
    ref = attribute(adapter, train, targets, {**CFG, "engine": "traker"}, tmp_path / "traker", progress=False)
    rho = [spearmanr(ours.scores[:, j], ref.scores[:, j])[0] for j in range(N_TARGETS)]
    print(f"per-target Spearman olab vs traker: {np.round(rho, 3)}")
    assert np.mean(rho) > 0.5 and min(rho) > 0, rho
    assert spearmanr(ours.self_influence, ref.self_influence)[0] > 0.5


def test_self_influence_flags_flipped_labels(noisy_setup, tmp_path):
    adapter, train, targets, is_flipped = noisy_setup
    result = attribute(adapter, train, targets, CFG, tmp_path / "olab", progress=False)
    auc = roc_auc_score(is_flipped, result.self_influence)
    print(f"flipped-label ROC AUC from self-influence: {auc:.3f}")
    assert auc > 0.5
    # the most self-influential quarter holds more than its share of flipped records
    top = np.argsort(-result.self_influence)[: N_TRAIN // 4]
    assert is_flipped[top].mean() > is_flipped.mean()


@pytest.mark.parametrize("kind", ["dense", "kronecker"])
def test_projection_keeps_the_exact_rankings_at_the_default_damping(noisy_setup, tmp_path, kind):
    """k = 2048 against exact TRAK (the 75,268-parameter gradient unprojected) on the fine-tuned packaged
    model, at olab's default damping; LoRA's 8 × 384 blocks are larger than k, so Kronecker factors them."""
    from test_trak import features

    from olab.adapters.data import iter_batches
    from olab.attribution import AttributionConfig
    from olab.attribution.featurize import Featurizer
    from olab.attribution.projection import make_projector
    from olab.attribution.trak import Member, kernel_scores, score

    adapter, train, targets, _ = noisy_setup
    model, tokenizer = adapter.load()
    ids = {label: i for i, label in enumerate(adapter.labels)}

    def batches(ds):
        labels = [ids[x] for x in ds["label"]]
        return [b for _, b in iter_batches(tokenizer, list(ds["text"]), labels, "classification", 32, 32)]

    exact = Featurizer(model, "classification")
    g, q = (torch.cat(parts).numpy() for parts in zip(*(exact.per_example_grads(b) for b in batches(train)),
                                                         strict=True))  # fmt: skip
    gt = torch.cat([exact.per_example_grads(b)[0] for b in batches(targets)]).numpy()
    damping = AttributionConfig().damping
    expected = kernel_scores(g, q, gt, damping)

    fz = Featurizer(model, "classification", make_projector(kind, exact.blocks, 2048, seed=0, device="cpu"))
    member = Member(features(fz, batches(train), tmp_path, "train"), features(fz, batches(targets), tmp_path, "t"))
    out = np.zeros(expected.shape, np.float32)
    score([member], damping, out, block_size=4096)
    rho = [spearmanr(out[:, j], expected[:, j])[0] for j in range(expected.shape[1])]
    print(f"{kind}: mean Spearman(k=2048 vs exact, damping {damping}) = {np.mean(rho):.4f}")
    assert np.mean(rho) >= 0.95, rho
