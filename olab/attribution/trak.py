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
    shard_rows: int | None = None,
) -> Features:
    """Featurize `batches` (n examples in all) into a (n × k) float32 .npy at `path`, accumulating ΦᵀΦ.

    ΦᵀΦ is summed batch by batch within each shard of `shard_rows` rows, then shard by shard in order
    (`fold_grams`): the arithmetic the Ray executor does with shards featurized on different workers, so both
    give bit-identical matrices. `shard_rows` must be a multiple of the batch size (None: one shard).
    """
    out = NpyRows(path, shape=(n, k))
    q = np.empty(n, dtype=np.float32)
    grams: list[np.ndarray] = []
    part: Tensor | None = None
    row = 0
    for batch in batches:
        feats, qb = featurize(batch)
        b = feats.shape[0]
        if row + b > n:
            raise OlabError(f"featurizing produced more than the expected {n} rows")
        part = add_gram(part, feats)
        out.write(row, feats.detach().cpu().numpy())
        q[row : row + b] = qb.detach().cpu().numpy()
        row += b
        if part is not None and (row == n or (shard_rows and row % shard_rows == 0)):
            grams.append(part.cpu().numpy())
            part = None
        if on_batch is not None:
            on_batch(b)
    if row != n:
        raise OlabError(f"featurizing produced {row} rows, expected {n}")
    return Features(path=Path(path), q=q, xtx=fold_grams(grams, k))


def add_gram(part: Tensor | None, feats: Tensor) -> Tensor:
    """`part` + ΦᵀΦ of one batch's features, in float64 (the one way every executor accumulates it)."""
    f64 = feats.detach().double()
    return f64.T @ f64 if part is None else part.add_(f64.T @ f64)


def fold_grams(grams: Iterable[np.ndarray], k: int) -> np.ndarray:
    """Σ of the shards' ΦᵀΦ in shard order (float64 addition is not associative: the order is fixed)."""
    total: np.ndarray | None = None
    for g in grams:
        total = g.copy() if total is None else np.add(total, g, out=total)
    return total if total is not None else np.zeros((k, k))


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


@dataclass
class Scorer:
    """What blocked scoring needs besides the training rows: per member (ΦᵀΦ + λI)⁻¹ Φ'ᵀ and (ΦᵀΦ + λI)⁻¹
    (float32), the ensemble's mean Q and each λ. Plain arrays, so a Ray worker can score blocks too."""

    weights: list[np.ndarray]
    invs: list[np.ndarray]
    mean_q: np.ndarray
    lams: list[float]

    @classmethod
    def prepare(cls, members: list[Member], damping: float) -> Scorer:
        if not members:
            raise OlabError("no ensemble members to score")
        n = members[0].train.q.shape[0]
        weights, invs, lams = [], [], []
        for m in members:
            inv, lam = damped_inverse(m.train.xtx, n, damping)
            targets = np.asarray(m.targets.array(), dtype=np.float64)
            weights.append(torch.as_tensor(inv @ targets.T, dtype=torch.float32).numpy())  # (k × n_targets)
            invs.append(torch.as_tensor(inv, dtype=torch.float32).numpy())
            lams.append(lam)
        mean_q = np.mean([m.train.q for m in members], axis=0).astype(np.float64)
        return cls(weights, invs, mean_q, lams)

    def block(
        self, readers: list[NpyRows], start: int, stop: int, device: torch.device, per_member: bool = False
    ) -> tuple[np.ndarray, ...]:
        """(scores float32, self-influence float64) of training rows start..stop, read through `readers`; with
        `per_member`, also each member's own scores (rows × members·targets, member after member), whose mean over
        the members is the scores."""
        tensors = self._on(device)
        acc = None
        members = []
        self_acc = torch.zeros(stop - start, dtype=torch.float64, device=device)
        for rows, (weights, inv) in zip(readers, tensors, strict=True):
            phi = torch.from_numpy(rows.read(start, stop)).to(device)
            block = (phi @ weights).double()
            if per_member:
                members.append(block)
            acc = block.clone() if acc is None else acc.add_(block)
            self_acc += ((phi @ inv) * phi).sum(dim=1).double()
        q_block = torch.as_tensor(self.mean_q[start:stop], device=device)
        scale = q_block / len(tensors)
        out = (acc * scale[:, None]).float().cpu().numpy(), (self_acc * scale * q_block).cpu().numpy()
        if not per_member:
            return out
        return (*out, (torch.cat(members, dim=1) * q_block[:, None]).float().cpu().numpy())

    def _on(self, device: torch.device) -> list[tuple[Tensor, Tensor]]:
        cached = self.__dict__.get("_tensors")
        if cached is None or cached[0] != device:
            pairs = [(torch.tensor(w, device=device), torch.tensor(i, device=device))
                     for w, i in zip(self.weights, self.invs, strict=True)]  # fmt: skip
            self.__dict__["_tensors"] = cached = (device, pairs)
        return cached[1]

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "_tensors"}


def score(
    members: list[Member],
    damping: float,
    scores_out: np.ndarray | NpyRows,
    block_size: int,
    device: torch.device | str = "cpu",
    on_block: Callable[[int], None] | None = None,
    members_out: NpyRows | None = None,
) -> tuple[np.ndarray, list[float]]:
    """Fill `scores_out` (n_train × n_targets) with ensemble TRAK scores; return (self-influence, λ per member).
    `members_out` (n_train × members·n_targets), when given, gets each member's own scores (`Scorer.block`).

    Self-influence is each record's effect on its own loss (module docstring).
    """
    scorer = Scorer.prepare(members, damping)
    device = torch.device(device)
    readers = [m.train.rows() for m in members]
    n = scorer.mean_q.shape[0]
    self_influence = np.empty(n, dtype=np.float64)
    for start in range(0, n, block_size):
        stop = min(n, start + block_size)
        block, self_block, *members = scorer.block(readers, start, stop, device, per_member=members_out is not None)
        put_rows(scores_out, start, block)
        if members_out is not None:
            put_rows(members_out, start, members[0])
        self_influence[start:stop] = self_block
        if on_block is not None:
            on_block(stop - start)
    return self_influence, scorer.lams
