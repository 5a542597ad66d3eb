"""A seeded Gaussian random projection that is the same on every machine and device.

The per-example gradient is a concatenation of parameter blocks (each LoRA A and B matrix, the
classifier head). Each block b gets its own matrix R_b (numel_b × k) drawn on the CPU in float32
by a `torch.Generator` seeded from (proj_seed, block name), scaled by 1/√k so projected inner
products estimate gradient inner products. Projecting the concatenated gradient with the stacked
matrix equals Σ_b grad_b R_b: a dense JL projection whose entries depend only on the seed and the
parameter names, never on device properties, thread counts or block order.

Why the gradient is materialised before projecting: for a LoRA matrix the per-example gradient
is Σ_t g_t ⊗ x_t (r × d). Building it costs T·r·d and projecting it r·d·k; projecting the factors
first (x_t through R reshaped to d × r·k) costs T·d·r·k, larger by about T, and equal only when
T = 1 (the classifier head on the pooled vector). So olab always materialises, then projects.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence

import torch
from torch import Tensor

from olab.errors import ConfigError

# Dense matrices above this size (in float32 bytes) are refused with a message saying what to change.
MAX_MATRIX_BYTES = 4 << 30


def block_seed(seed: int, name: str) -> int:
    """A 63-bit seed for one parameter block, derived from the projection seed and the block's name."""
    digest = hashlib.sha256(f"olab-projection:{seed}:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def block_matrix(seed: int, name: str, numel: int, k: int) -> Tensor:
    """The (numel × k) float32 CPU matrix of one block: N(0, 1/k) entries from its own generator."""
    gen = torch.Generator(device="cpu").manual_seed(block_seed(seed, name))
    return torch.randn(numel, k, generator=gen, dtype=torch.float32, device="cpu").mul_(1.0 / math.sqrt(k))


class Projector:
    """Projects (B, P) per-example gradients laid out as `blocks` to (B, k) features."""

    def __init__(self, blocks: Sequence[tuple[str, int]], k: int, seed: int, device: torch.device | str = "cpu"):
        self.blocks = [(str(n), int(size)) for n, size in blocks]
        self.k = int(k)
        self.seed = int(seed)
        self.grad_dim = sum(size for _, size in self.blocks)
        needed = self.grad_dim * self.k * 4
        if needed > MAX_MATRIX_BYTES:
            raise ConfigError(
                f"attribution.proj_dim={k}: a dense projection of the {self.grad_dim:,}-parameter adapter gradient "
                f"needs {needed / 2**30:.1f} GiB; choose proj_dim <= {MAX_MATRIX_BYTES // (4 * self.grad_dim)}"
            )
        cpu = torch.cat([block_matrix(self.seed, name, size, self.k) for name, size in self.blocks])
        self.matrix = cpu.to(device)

    def project(self, grads: Tensor) -> Tensor:
        """(B, P) gradients -> (B, k) features, in float32."""
        if grads.shape[-1] != self.grad_dim:
            raise ValueError(f"expected gradients with {self.grad_dim} columns, got {tuple(grads.shape)}")
        return grads.float() @ self.matrix

    def describe(self) -> dict:
        return {"kind": "gaussian-per-block", "k": self.k, "seed": self.seed, "grad_dim": self.grad_dim}
