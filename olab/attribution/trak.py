"""TRAK scoring over features streamed to disk, in blocks of training rows.

For each ensemble member m (an adapter checkpoint) with train features Φ_m (n × k, a .npy on disk),
out-to-loss weights Q_m and target features Φ'_m:

    scores = mean_m[ Φ_m (Φ_mᵀΦ_m + λ_m I)⁻¹ Φ'_mᵀ ] ⊙ mean_m[Q_m]        (TRAK, Park et al. 2023, eq. 14)

Φᵀ Φ is accumulated in float64 while featurizing; λ_m = damping · trace(Φ_mᵀΦ_m)/min(n, k). Scores are
computed block by block of training rows (read from disk) and written to a memmap, so neither the
features nor train × targets ever have to fit in memory.

Self-influence is the record's effect on its own loss: TRAK's score with the record as the target,
mean_m[φ_{m,i} (Φ_mᵀΦ_m + λ_m I)⁻¹ φ_{m,i}ᵀ]·Q̄_i (its effect on its own margin f), times ∂loss/∂f = −Q̄_i:
    self_i = mean_m[ φ_{m,i} (Φ_mᵀΦ_m + λ_m I)⁻¹ φ_{m,i}ᵀ ] · Q̄_i²,     Q̄_i = mean_m[Q_{m,i}]
the influence-function self-influence ∇ℓ_iᵀ H⁻¹ ∇ℓ_i of Koh & Liang (2017) in TRAK's terms (and TracIn's
Q_i²‖φ_i‖² as λ grows). The record's leverage (how unusual its gradient is) weighted by how badly the
model fits it; mislabelled records are both, so they rank high.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from numpy.lib.format import open_memmap
from torch import Tensor

from olab.errors import OlabError

Batch = dict[str, Tensor]


class NpyRows:
    """A float32 (n × k) .npy file written and read in row blocks through a file handle.

    Never memory-mapped while streaming, so the process's resident memory stays flat however many
    rows there are (the pages live in the OS cache, not in this process); `np.load` opens it as usual.
    """

    def __init__(self, path: str | Path, shape: tuple[int, int] | None = None):
        self.path = Path(path)
        mode = "w+" if shape is not None else "r"
        header = open_memmap(self.path, mode=mode, dtype=np.float32, shape=shape)  # writes/reads the header only
        self.shape, self.offset = tuple(header.shape), header.offset
        del header

    def write(self, start: int, rows: np.ndarray) -> None:
        with open(self.path, "r+b") as f:
            f.seek(self.offset + start * self.shape[1] * 4)
            f.write(np.ascontiguousarray(rows, dtype=np.float32).tobytes())

    def read(self, start: int, stop: int) -> np.ndarray:
        out = np.empty((stop - start, self.shape[1]), dtype=np.float32)
        with open(self.path, "rb") as f:
            f.seek(self.offset + start * self.shape[1] * 4)
            if f.readinto(memoryview(out).cast("B")) != out.nbytes:
                raise OlabError(f"{self.path} is truncated: rows {start}..{stop} are missing")
        return out


def put_rows(out: np.ndarray | NpyRows, start: int, rows: np.ndarray) -> None:
    """Write rows into an in-memory/memmapped array or an `NpyRows` file."""
    if isinstance(out, NpyRows):
        out.write(start, rows)
    else:
        out[start : start + rows.shape[0]] = rows


@dataclass
class Features:
    """One member's features for one dataset: a float32 (n × k) .npy on disk, Q, and Φᵀ Φ (float64)."""

    path: Path
    q: np.ndarray
    xtx: np.ndarray

    def rows(self) -> NpyRows:
        return NpyRows(self.path)

    def array(self) -> np.ndarray:
        return np.load(self.path, mmap_mode="r")


def write_features(
    featurize: Callable[[Batch], tuple[Tensor, Tensor]],
    batches: Iterable[Batch],
    n: int,
    k: int,
    path: str | Path,
    on_batch: Callable[[int], None] | None = None,
) -> Features:
    """Featurize `batches` (n examples in all) into a (n × k) float32 .npy at `path`, accumulating ΦᵀΦ."""
    out = NpyRows(path, shape=(n, k))
    q = np.empty(n, dtype=np.float32)
    xtx: Tensor | None = None
    row = 0
    for batch in batches:
        feats, qb = featurize(batch)
        b = feats.shape[0]
        if row + b > n:
            raise OlabError(f"featurizing produced more than the expected {n} rows")
        f64 = feats.detach().double()
        xtx = f64.T @ f64 if xtx is None else xtx.add_(f64.T @ f64)
        out.write(row, feats.detach().cpu().numpy())
        q[row : row + b] = qb.detach().cpu().numpy()
        row += b
        if on_batch is not None:
            on_batch(b)
    if row != n:
        raise OlabError(f"featurizing produced {row} rows, expected {n}")
    gram = xtx.cpu().numpy() if xtx is not None else np.zeros((k, k))
    return Features(path=Path(path), q=q, xtx=gram)


def ridge(trace: float, n: int, k: int, damping: float) -> float:
    """λ = damping · trace(ΦᵀΦ)/min(n, k): the damping relative to ΦᵀΦ's mean non-zero eigenvalue.

    Dividing by the rank rather than k makes λ the same whether k is a projection (k < P) or the
    full gradient (exact), whenever n ≤ k: projections preserve ΦΦᵀ, hence trace and rank.
    """
    return float(damping) * float(trace) / max(1, min(n, k))


def kernel_scores(g_train: np.ndarray, q: np.ndarray, g_targets: np.ndarray, damping: float) -> np.ndarray:
    """TRAK scores G (GᵀG + λI)⁻¹ G'ᵀ · Q in memory, in float64, through the n × n kernel form of the same matrix,
    (GGᵀ + λI)⁻¹ G G'ᵀ: no P × P matrix, so exact (unprojected) scores of small training sets, the reference
    the projected, streamed `score` is checked against (tests, experiments/projection_fidelity)."""
    g, gt = g_train.astype(np.float64), g_targets.astype(np.float64)
    lam = ridge(np.sum(g * g), g.shape[0], g.shape[1], damping)
    return np.linalg.solve(g @ g.T + lam * np.eye(g.shape[0]), g @ gt.T) * np.asarray(q, np.float64)[:, None]


def damped_inverse(xtx: np.ndarray, n: int, damping: float) -> tuple[np.ndarray, float]:
    """((ΦᵀΦ + λI)⁻¹ in float64, λ) for n training rows, λ from `ridge`; Cholesky, pseudo-inverse as fallback."""
    k = xtx.shape[0]
    lam = ridge(np.trace(xtx), n, k, damping)
    reg = torch.from_numpy(xtx + lam * np.eye(k))
    chol, info = torch.linalg.cholesky_ex(reg)
    inv = torch.cholesky_inverse(chol) if int(info) == 0 else torch.linalg.pinv(reg, hermitian=True)
    inv = inv.numpy()
    return (inv + inv.T) / 2, lam


@dataclass
class Member:
    """One ensemble member ready to score: its train and target features."""

    train: Features
    targets: Features


def score(
    members: list[Member],
    damping: float,
    scores_out: np.ndarray | NpyRows,
    block_size: int,
    device: torch.device | str = "cpu",
    on_block: Callable[[int], None] | None = None,
) -> tuple[np.ndarray, list[float]]:
    """Fill `scores_out` (n_train × n_targets) with ensemble TRAK scores; return (self-influence, λ per member).

    Self-influence is each record's effect on its own loss (module docstring).
    """
    if not members:
        raise OlabError("no ensemble members to score")
    device = torch.device(device)
    n = members[0].train.q.shape[0]
    mean_q = np.mean([m.train.q for m in members], axis=0).astype(np.float64)
    prepared, lams = [], []
    for m in members:
        inv, lam = damped_inverse(m.train.xtx, n, damping)
        lams.append(lam)
        targets = np.asarray(m.targets.array(), dtype=np.float64)
        weights = inv @ targets.T  # (k × n_targets): (ΦᵀΦ + λI)⁻¹ Φ'ᵀ
        prepared.append(
            (
                m.train.rows(),
                torch.as_tensor(weights, dtype=torch.float32, device=device),
                torch.as_tensor(inv, dtype=torch.float32, device=device),
            )
        )
    self_influence = np.empty(n, dtype=np.float64)
    for start in range(0, n, block_size):
        stop = min(n, start + block_size)
        acc = None
        self_acc = torch.zeros(stop - start, dtype=torch.float64, device=device)
        for train, weights, inv in prepared:
            phi = torch.from_numpy(train.read(start, stop)).to(device)
            block = (phi @ weights).double()
            acc = block if acc is None else acc.add_(block)
            self_acc += ((phi @ inv) * phi).sum(dim=1).double()
        q_block = torch.as_tensor(mean_q[start:stop], device=device)
        scale = q_block / len(prepared)
        put_rows(scores_out, start, (acc * scale[:, None]).float().cpu().numpy())
        self_influence[start:stop] = (self_acc * scale * q_block).cpu().numpy()
        if on_block is not None:
            on_block(stop - start)
    return self_influence, lams
