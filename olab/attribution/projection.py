"""A seeded Gaussian random projection that is the same on every machine and device.

The per-example gradient is a concatenation of parameter blocks (each LoRA A and B matrix, the
classifier head). Dense (default for adapters up to 1 GiB of matrix): each block b gets its own
matrix R_b (numel_b × k) drawn on the CPU in float32
by a `torch.Generator` seeded from (proj_seed, block name), scaled by 1/√k so projected inner
products estimate gradient inner products. Projecting the concatenated gradient with the stacked
matrix equals Σ_b grad_b R_b: a dense JL projection whose entries depend only on the seed and the
parameter names, never on device properties, thread counts or block order. Kronecker (for large
adapters, see `KroneckerProjector`): per block, two small seeded matrices on either side of the
gradient matrix.

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


def block_matrix(seed: int, name: str, numel: int, k: int, out: Tensor | None = None) -> Tensor:
    """The (numel × k) float32 CPU matrix of one block: N(0, 1/k) entries from its own generator.

    With `out` (a contiguous CPU float32 view of that shape) it is filled in place, so the stacked
    matrix is built without a second copy.
    """
    gen = torch.Generator(device="cpu").manual_seed(block_seed(seed, name))
    if out is None:
        out = torch.empty(numel, k, dtype=torch.float32, device="cpu")
    return out.normal_(generator=gen).mul_(1.0 / math.sqrt(k))


Block = tuple[str, tuple[int, ...]]  # (parameter name, gradient shape), in gradient column order


def numel(shape: tuple[int, ...]) -> int:
    return math.prod(shape)


class Projector:
    """Dense Gaussian projection of (B, P) per-example gradients laid out as `blocks` to (B, k) features."""

    kind = "dense"

    def __init__(self, blocks: Sequence[Block], k: int, seed: int, device: torch.device | str = "cpu"):
        self.blocks = [(str(n), tuple(int(d) for d in shape)) for n, shape in blocks]
        self.k = int(k)
        self.seed = int(seed)
        self.grad_dim = sum(numel(shape) for _, shape in self.blocks)
        needed = self.grad_dim * self.k * 4
        if needed > MAX_MATRIX_BYTES:
            raise ConfigError(
                f"attribution.proj_dim={k}: a dense projection of the {self.grad_dim:,}-parameter adapter gradient "
                f"needs {needed / 2**30:.1f} GiB; set attribution.projection='kronecker' or proj_dim <= "
                f"{MAX_MATRIX_BYTES // (4 * self.grad_dim)}"
            )
        cpu = torch.empty(self.grad_dim, self.k, dtype=torch.float32)
        row = 0
        for name, shape in self.blocks:
            block_matrix(self.seed, name, numel(shape), self.k, out=cpu[row : row + numel(shape)])
            row += numel(shape)
        self.matrix = cpu.to(device)

    def _check(self, grads: Tensor) -> None:
        if grads.shape[-1] != self.grad_dim:
            raise ValueError(f"expected gradients with {self.grad_dim} columns, got {tuple(grads.shape)}")

    def project(self, grads: Tensor) -> Tensor:
        """(B, P) gradients -> (B, k) features, in float32."""
        self._check(grads)
        return grads.float() @ self.matrix

    def describe(self) -> dict:
        return {"kind": self.kind, "k": self.k, "seed": self.seed, "grad_dim": self.grad_dim}


def kronecker_split(k: int, rows: int, cols: int) -> tuple[int, int]:
    """(k1, k2) with k1·k2 = k: the short side kept whole where k allows (LoRA's rank side: k1 = rows for an
    r × d block), else k1 ≤ rows with k1/k2 as close to rows/cols as the divisors of k allow."""
    short, long = sorted((rows, cols))
    if k % short == 0 and k // short <= long:
        return (short, k // short) if rows == short else (k // short, short)
    target = math.sqrt(k * rows / cols)
    k1 = min((d for d in range(1, min(k, rows) + 1) if k % d == 0), key=lambda d: abs(math.log(d / target)))
    return k1, k // k1


class KroneckerProjector(Projector):
    """Structured projection: each (rows × cols) gradient block G maps to R1ᵀ G R2 (k1 × k2 = k), summed.

    R1 (rows × k1) and R2 (cols × k2) have N(0, 1/k1), N(0, 1/k2) entries, so E[(R1⊗R2)(R1⊗R2)ᵀ] = I and
    projected inner products stay unbiased, as with the dense matrix. A side kept whole (k1 = rows, as for
    LoRA's rank side, see `kronecker_split`) gets the identity, not a square Gaussian: R1R1ᵀ of a square
    Gaussian is far from I and its error is shared by every column, which tripled the spread of inner-product
    estimates for an 8 × 384 LoRA block; with the identity the spread is the dense matrix's. The matrices
    are tiny (rows·k1 + cols·k2 numbers per block instead of rows·cols·k), and the cost per example drops
    from rows·cols·k to about rows·cols·k2 + k1·rows·k2: what makes adapters with millions of parameters
    (LoRA on an LLM) projectable at all. Vectors (biases) and blocks no larger than k (nothing to
    compress; their dense matrix is at most k × k) use a dense block.
    """

    kind = "kronecker"

    def __init__(self, blocks: Sequence[Block], k: int, seed: int, device: torch.device | str = "cpu"):
        self.blocks = [(str(n), tuple(int(d) for d in shape)) for n, shape in blocks]
        self.k, self.seed = int(k), int(seed)
        self.grad_dim = sum(numel(shape) for _, shape in self.blocks)
        # per block: (dense matrix,) or (R1ᵀ or None, R2 or None), None standing for the identity
        self.factors: list[tuple[Tensor | None, ...]] = []
        for name, shape in self.blocks:
            if len(shape) == 2 and numel(shape) > self.k:
                k1, k2 = kronecker_split(self.k, *shape)
                r1 = None if k1 == shape[0] else block_matrix(self.seed, f"{name}:rows", shape[0], k1).T.contiguous()
                r2 = None if k2 == shape[1] else block_matrix(self.seed, f"{name}:cols", shape[1], k2)
                self.factors.append(tuple(None if r is None else r.to(device) for r in (r1, r2)))
            else:
                self.factors.append((block_matrix(self.seed, name, numel(shape), self.k).to(device),))

    def project(self, grads: Tensor) -> Tensor:
        self._check(grads)
        grads = grads.float()
        out = torch.zeros(grads.shape[0], self.k, dtype=torch.float32, device=grads.device)
        col = 0
        for (_, shape), factors in zip(self.blocks, self.factors, strict=True):
            block = grads[:, col : col + numel(shape)]
            col += numel(shape)
            if len(factors) == 1:
                out.addmm_(block, factors[0])
            else:
                r1t, r2 = factors
                g = block.reshape(-1, *shape)
                if r2 is not None:
                    g = g @ r2
                if r1t is not None:
                    g = torch.matmul(r1t, g)
                out += g.reshape(grads.shape[0], self.k)
        return out


def make_projector(kind: str, blocks: Sequence[Block], k: int, seed: int, device: torch.device | str) -> Projector:
    """'dense', 'kronecker', or 'auto' (dense while its matrix stays under 1 GiB, else kronecker)."""
    if kind == "auto":
        kind = "dense" if sum(numel(s) for _, s in blocks) * k * 4 <= (1 << 30) else "kronecker"
    cls = {"dense": Projector, "kronecker": KroneckerProjector}[kind]
    return cls(blocks, k, seed, device)
