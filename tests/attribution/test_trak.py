"""TRAK scoring: exact scores equal the kernel-form reference (itself checked against the primal formula);
projected scores rank like exact ones; blocks, memmaps and ensembles change nothing but memory."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr
from test_featurize import torch_func_grads
from tiny import TinyClassifier, batch, lora_classifier
from torch import nn

from olab.attribution.featurize import Featurizer
from olab.attribution.projection import make_projector
from olab.attribution.trak import Member, NpyRows, damped_inverse, kernel_scores, ridge, score, write_features

DAMPING = 0.01


def batches(n: int, seed: int, size: int = 16, **kw) -> list[dict[str, torch.Tensor]]:
    return [batch(min(size, n - i), seed=seed + i, **kw) for i in range(0, n, size)]


def test_kernel_scores_equal_the_primal_formula():
    rng = np.random.default_rng(0)
    g, gt, q = rng.normal(size=(6, 9)), rng.normal(size=(2, 9)), rng.uniform(0.1, 0.9, 6)
    lam = ridge(np.sum(g * g), 6, 9, 0.5)
    primal = g @ np.linalg.inv(g.T @ g + lam * np.eye(9)) @ gt.T * q[:, None]
    np.testing.assert_allclose(kernel_scores(g, q, gt, 0.5), primal, rtol=1e-10)


def features(featurizer, data, tmp_path, name):
    n = sum(b["input_ids"].shape[0] for b in data)
    return write_features(featurizer.featurize, data, n, featurizer.dim, tmp_path / f"{name}.npy")


def test_exact_scores_equal_kernel_trak_on_torch_func_gradients(tmp_path):
    model = lora_classifier(seed=2)
    train, targets = batches(40, seed=0), batches(12, seed=100)
    fz = Featurizer(model, "classification")  # no projection: exact
    members = [Member(features(fz, train, tmp_path, "train"), features(fz, targets, tmp_path, "targets"))]
    out = np.zeros((40, 12), np.float32)
    self_infl, lams = score(members, DAMPING, out, block_size=1000)

    names = [n for n, _, _ in fz.layout]
    g = torch.cat([torch_func_grads(model, names, "classification", b) for b in train]).numpy()
    gt = torch.cat([torch_func_grads(model, names, "classification", b) for b in targets]).numpy()
    q = members[0].train.q
    expected = kernel_scores(g, q, gt, DAMPING)
    np.testing.assert_allclose(out, expected, rtol=1e-3, atol=1e-5 * np.abs(expected).max())
    assert np.corrcoef(out.ravel(), expected.ravel())[0, 1] > 0.99999
    # self-influence, the effect on the record's own loss: φ_i (ΦᵀΦ+λI)⁻¹ φ_iᵀ · Q_i²
    gg = g.astype(np.float64)
    inv = np.linalg.inv(gg.T @ gg + lams[0] * np.eye(gg.shape[1]))
    expected_self = np.einsum("ij,jk,ik->i", gg, inv, gg) * q.astype(np.float64) ** 2
    np.testing.assert_allclose(self_infl, expected_self, rtol=1e-3)


class WideClassifier(TinyClassifier):
    """MiniLM's width (384): k=2048 is a real compression of its LoRA gradient (P ≈ 38,000), and its LoRA
    blocks (8 × 384, 768 × 8, ...) are larger than k, so the Kronecker projection factors them."""

    def __init__(self):
        super().__init__(vocab=60, d=384, n_labels=3)


@pytest.mark.parametrize("kind", ["dense", "kronecker"])
def test_projected_scores_rank_like_exact_ones(tmp_path, kind):
    """At olab's default damping on a real fine-tuned adapter: tests/attribution/test_minilm.py."""
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(0)
    cfg = LoraConfig(r=8, lora_alpha=16, target_modules=["q", "v", "o", "fc1", "fc2"], modules_to_save=["classifier"])
    model = get_peft_model(WideClassifier(), cfg).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.1)
    train, targets = batches(300, seed=0, size=50, vocab=60), batches(20, seed=1000, vocab=60)
    exact = Featurizer(model, "classification")
    assert exact.grad_dim > 3 * 2048
    g, q = (torch.cat(parts).numpy() for parts in zip(*(exact.per_example_grads(b) for b in train), strict=True))
    gt = torch.cat([exact.per_example_grads(b)[0] for b in targets]).numpy()
    expected = kernel_scores(g, q, gt, DAMPING)

    projector = make_projector(kind, exact.blocks, 2048, seed=0, device="cpu")
    fz = Featurizer(model, "classification", projector)
    members = [Member(features(fz, train, tmp_path, "train"), features(fz, targets, tmp_path, "targets"))]
    out = np.zeros((300, 20), np.float32)
    score(members, DAMPING, out, block_size=128)
    rho = [spearmanr(out[:, j], expected[:, j])[0] for j in range(20)]
    print(f"mean Spearman({kind}, k=2048, damping {DAMPING} vs exact) = {np.mean(rho):.4f}")
    assert np.mean(rho) >= 0.95, rho


def _random_member(tmp_path, name: str, n: int, n_targets: int, k: int, seed: int) -> Member:
    rng = np.random.default_rng(seed)
    phi = rng.normal(size=(n, k)).astype(np.float32)
    tgt = rng.normal(size=(n_targets, k)).astype(np.float32)
    q = rng.uniform(0.1, 0.9, size=n).astype(np.float32)

    def feats(arr, qv, tag):
        def featurize(b):
            return torch.from_numpy(b["x"]), torch.from_numpy(b["q"])

        chunks = [{"x": arr[i : i + 7], "q": qv[i : i + 7]} for i in range(0, len(arr), 7)]
        return write_features(featurize, chunks, len(arr), k, tmp_path / f"{name}_{tag}.npy")

    return Member(feats(phi, q, "train"), feats(tgt, np.ones(n_targets, np.float32), "targets"))


def test_features_stream_to_an_npy_file_with_float64_gram(tmp_path):
    m = _random_member(tmp_path, "a", 50, 4, 8, seed=0)
    on_disk = np.load(m.train.path, mmap_mode="r")
    assert isinstance(on_disk, np.memmap) and on_disk.shape == (50, 8) and on_disk.dtype == np.float32
    phi = np.asarray(on_disk, np.float64)
    assert m.train.xtx.dtype == np.float64
    np.testing.assert_allclose(m.train.xtx, phi.T @ phi, rtol=1e-12)


@pytest.mark.parametrize("block_size", [1, 7, 50])
def test_blocked_scoring_equals_unblocked(tmp_path, block_size):
    m = _random_member(tmp_path, "a", 50, 6, 16, seed=1)
    whole, blocked = np.zeros((50, 6), np.float32), np.zeros((50, 6), np.float32)
    s_whole, _ = score([m], DAMPING, whole, block_size=10_000)
    s_blocked, _ = score([m], DAMPING, blocked, block_size=block_size)
    np.testing.assert_allclose(blocked, whole, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(s_blocked, s_whole, rtol=1e-6)  # float32 products, differently shaped


@pytest.mark.parametrize("to_file", ["memmap", "rows"])
def test_scores_go_to_a_file_on_disk(tmp_path, to_file):
    m = _random_member(tmp_path, "a", 30, 5, 8, seed=2)
    if to_file == "memmap":
        out = np.lib.format.open_memmap(tmp_path / "scores.npy", mode="w+", dtype=np.float32, shape=(30, 5))
    else:
        out = NpyRows(tmp_path / "scores.npy", shape=(30, 5))
    score([m], DAMPING, out, block_size=4)
    del out
    mem = np.zeros((30, 5), np.float32)
    score([m], DAMPING, mem, block_size=30)
    np.testing.assert_array_equal(np.load(tmp_path / "scores.npy"), mem)


def test_ensemble_averages_member_scores_then_weights_by_mean_q(tmp_path):
    members = [_random_member(tmp_path, f"m{i}", 40, 5, 12, seed=10 + i) for i in range(3)]
    out = np.zeros((40, 5), np.float32)
    self_infl, lams = score(members, DAMPING, out, block_size=9)
    raw, lev = [], []
    for m, lam in zip(members, lams, strict=True):
        phi, tgt = np.asarray(m.train.array(), np.float64), np.asarray(m.targets.array(), np.float64)
        inv, lam_check = damped_inverse(phi.T @ phi, 40, DAMPING)
        assert lam == pytest.approx(lam_check)
        raw.append(phi @ inv @ tgt.T)
        lev.append(np.einsum("ij,jk,ik->i", phi, inv, phi))
    mean_q = np.mean([m.train.q for m in members], axis=0)
    np.testing.assert_allclose(out, np.mean(raw, axis=0) * mean_q[:, None], rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(self_infl, np.mean(lev, axis=0) * mean_q**2, rtol=1e-5)


def test_damping_is_relative_so_scaling_features_does_not_change_rankings(tmp_path):
    m = _random_member(tmp_path, "a", 40, 3, 64, seed=3)  # n < k: ΦᵀΦ is singular without damping
    big = Member(
        write_features(lambda b: (b * 1000.0, torch.ones(len(b))), [torch.from_numpy(np.array(m.train.array()))],
                       40, 64, tmp_path / "big.npy"),
        m.targets,
    )  # fmt: skip
    big.train.q[:] = m.train.q
    a, b = np.zeros((40, 3), np.float32), np.zeros((40, 3), np.float32)
    score([m], DAMPING, a, block_size=40)
    score([big], DAMPING, b, block_size=40)
    np.testing.assert_allclose(
        b, a / 1000.0, rtol=1e-3, atol=1e-5 * np.abs(a).max() / 1000
    )  # Φ → cΦ: Φ(c²ΦᵀΦ + c²λI)⁻¹ = (1/c)·Φ(ΦᵀΦ + λI)⁻¹
    assert np.isfinite(a).all()


def test_wrong_row_count_is_an_error(tmp_path):
    from olab.errors import OlabError

    with pytest.raises(OlabError, match="expected 5"):
        write_features(lambda b: (b, torch.ones(len(b))), [torch.zeros(3, 2)], 5, 2, tmp_path / "x.npy")


def test_model_without_trainable_parameters_is_refused():
    from olab.errors import OlabError

    model = nn.Linear(3, 3).requires_grad_(False)
    with pytest.raises(OlabError, match="no trainable parameters"):
        Featurizer(model, "classification")
