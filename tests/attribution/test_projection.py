"""The projection depends on the seed and the parameter names only: not on the process, thread count,
compute dtype, block order or device."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import plain
import pytest
import torch
from tiny import batch, lora_classifier

from olab.attribution.featurize import Featurizer, gradient_blocks, gradient_layout
from olab.attribution.projection import KroneckerProjector, Projector, block_matrix, kronecker_split, make_projector

HERE = Path(__file__).parent
BLOCKS = [
    ("layer.0.q.lora_A.default.weight", (8, 12)),
    ("layer.0.q.lora_B.default.weight", (10, 8)),
    ("head.bias", (3,)),
]

# a second process that never imports peft/transformers (slow to import on a busy box): a plain model
# whose trainable Linear layers the featurizer handles just like LoRA's
FEATURES_SCRIPT = """
import sys, numpy as np, torch
sys.path.insert(0, sys.argv[1])
from plain import features, matrix
out = {}
for threads in (1, 2):
    torch.set_num_threads(threads)
    out[f"matrix{threads}"] = matrix()
    out[f"features{threads}"] = features()
np.savez(sys.argv[2], **out)
"""


def local_features(
    seed: int = 7, autocast: torch.dtype | None = None, device: str = "cpu", kind: str = "dense"
) -> torch.Tensor:
    model = lora_classifier(seed=4)
    projector = make_projector(kind, gradient_blocks(gradient_layout(model)), 256, seed, device)
    fz = Featurizer(model, "classification", projector, device=device, autocast_dtype=autocast)
    return fz.featurize(batch(6, seed=9))[0].cpu()


def test_same_seed_same_features_in_another_process_and_thread_count(tmp_path):
    out = tmp_path / "feats.npz"
    subprocess.run([sys.executable, "-c", FEATURES_SCRIPT, str(HERE), str(out)], check=True)
    other = np.load(out)
    matrix, here = plain.matrix(), plain.features()  # this test runs single-threaded (conftest)
    assert np.abs(here).max() > 0
    # the matrix is bit-identical whatever the process or thread count
    np.testing.assert_array_equal(other["matrix1"], matrix)
    np.testing.assert_array_equal(other["matrix2"], matrix)
    # features: bit-identical at the same thread count; within float32 rounding across thread counts
    np.testing.assert_array_equal(other["features1"], here)
    np.testing.assert_allclose(other["features2"], here, rtol=1e-5, atol=1e-6 * np.abs(here).max())


def test_seed_changes_the_projection():
    a, b = local_features(seed=7), local_features(seed=8)
    assert not torch.allclose(a, b)


def test_autocast_dtype_uses_the_same_float32_matrix():
    """bf16 autocast perturbs the gradients a little; the projection matrix itself is float32 either way."""
    exact = local_features()
    low = local_features(autocast=torch.bfloat16)
    rel = ((low - exact).norm() / exact.norm()).item()
    assert rel < 0.05, rel
    cos = torch.nn.functional.cosine_similarity(low, exact, dim=1)
    assert bool((cos > 0.99).all())


def test_block_matrices_depend_on_name_not_position():
    p1 = Projector(BLOCKS, 32, seed=1)
    p2 = Projector(list(reversed(BLOCKS)), 32, seed=1)
    a_rows = p1.matrix[:96]
    assert torch.equal(a_rows, p2.matrix[-96:])
    assert torch.equal(a_rows, block_matrix(1, BLOCKS[0][0], 96, 32))
    assert not torch.equal(block_matrix(1, "x", 10, 8), block_matrix(1, "y", 10, 8))


def test_projection_preserves_inner_products_on_average():
    """Entries are N(0, 1/k), so E[⟨gR, hR⟩] = ⟨g, h⟩: TRAK's kernel is estimated without bias."""
    torch.manual_seed(0)
    g = torch.randn(4, 179)
    proj = Projector(BLOCKS, 4096, seed=3)
    exact, projected = g @ g.T, proj.project(g) @ proj.project(g).T
    assert torch.allclose(projected, exact, rtol=0.15, atol=0.15 * exact.diag().mean().item())


def test_gradient_width_mismatch_is_an_error():
    with pytest.raises(ValueError, match="179 columns"):
        Projector(BLOCKS, 8, seed=0).project(torch.zeros(2, 10))


def test_oversized_dense_projection_is_refused_with_a_fix():
    from olab.errors import ConfigError

    with pytest.raises(ConfigError, match="proj_dim <="):
        Projector([("huge", (10**9,))], 2048, seed=0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (run on the GPU machine)")
@pytest.mark.parametrize("kind", ["dense", "kronecker"])
def test_cpu_and_gpu_features_agree(kind):
    cpu = local_features(kind=kind)
    gpu = local_features(device="cuda", kind=kind)
    torch.testing.assert_close(gpu, cpu, rtol=1e-4, atol=1e-5 * cpu.abs().max().item())


def kronecker_factor(seed: int, name: str, n: int, k: int) -> torch.Tensor:
    """One side's factor as KroneckerProjector means it: the identity for a side kept whole (n == k)."""
    return torch.eye(n) if n == k else block_matrix(seed, name, n, k)


def test_kronecker_projection_is_r1t_g_r2_per_block_summed():
    proj = KroneckerProjector(BLOCKS, 16, seed=2)
    torch.manual_seed(1)
    g = torch.randn(3, 179)
    expected = torch.zeros(3, 16)
    col = 0
    for name, shape in BLOCKS:
        size = math.prod(shape)
        block = g[:, col : col + size]
        col += size
        if len(shape) == 1:
            expected += block @ block_matrix(2, name, size, 16)
            continue
        k1, k2 = kronecker_split(16, *shape)
        r1 = kronecker_factor(2, f"{name}:rows", shape[0], k1)
        r2 = kronecker_factor(2, f"{name}:cols", shape[1], k2)
        expected += (r1.T @ block.reshape(3, *shape) @ r2).reshape(3, 16)
    torch.testing.assert_close(proj.project(g), expected)
    # the blocks keep their short side whole: the rows of the first (8 × 12), the columns of the second (10 × 8)
    assert kronecker_split(16, *BLOCKS[0][1]) == (8, 2) and kronecker_split(16, *BLOCKS[1][1]) == (2, 8)
    # the same as multiplying the flattened block by the Kronecker product R1 ⊗ R2
    name, shape = BLOCKS[0]
    k1, k2 = kronecker_split(16, *shape)
    kron = torch.kron(kronecker_factor(2, f"{name}:rows", shape[0], k1), block_matrix(2, f"{name}:cols", shape[1], k2))
    only_first = torch.zeros(1, 179)
    only_first[0, :96] = g[0, :96]
    torch.testing.assert_close(proj.project(only_first)[0], g[0, :96] @ kron)


def test_kronecker_uses_a_dense_block_where_there_is_nothing_to_compress():
    blocks = [("small", (8, 12)), ("large", (8, 40))]  # 96 and 320 parameters, k = 128
    proj = KroneckerProjector(blocks, 128, seed=5)
    assert len(proj.factors[0]) == 1 and torch.equal(proj.factors[0][0], block_matrix(5, "small", 96, 128))
    assert proj.factors[1][0] is None and proj.factors[1][1].shape == (40, 16)  # rank side whole, 40 -> 16


def test_kronecker_inner_products_are_unbiased():
    torch.manual_seed(0)
    g = torch.randn(2, 179)
    estimates = []
    for seed in range(300):
        p = KroneckerProjector(BLOCKS, 64, seed=seed).project(g)
        estimates.append((p[0] @ p[1]).item())
    exact, norms = (g[0] @ g[1]).item(), (g[0].norm() * g[1].norm()).item()
    assert abs(np.mean(estimates) - exact) < 0.1 * norms


def test_kronecker_split_balances_factors():
    assert kronecker_split(2048, 8, 384) == (8, 256)  # LoRA A (r × d): all of the rank side
    assert kronecker_split(2048, 384, 8) == (256, 8)  # LoRA B (d × r)
    assert kronecker_split(2048, 16, 4096) == (16, 128)  # an LLM's LoRA A at r = 16
    assert kronecker_split(2048, 4096, 16) == (128, 16)
    assert kronecker_split(2048, 4, 384) == (4, 512)  # a 4-class head
    k1, k2 = kronecker_split(2048, 384, 384)
    assert k1 * k2 == 2048 and 0.5 <= k1 / k2 <= 2


def test_auto_projection_is_dense_until_its_matrix_is_large():
    assert isinstance(make_projector("auto", BLOCKS, 64, 0, "cpu"), Projector)
    assert not isinstance(make_projector("auto", BLOCKS, 64, 0, "cpu"), KroneckerProjector)
    big = [("w", (4096, 8)), ("v", (8, 4096))] * 3  # 196k parameters x 2048 x 4 bytes = 1.5 GiB dense
    assert isinstance(make_projector("auto", big, 2048, 0, "cpu"), KroneckerProjector)
