"""TRAK scores of a run's training records for a new answer, at the cost of one forward+backward per ensemble member
and one matrix-vector product: the training side is prepared once per served adapter.

For the adapter's members m (its final weights, or each checkpoint with `attribution.checkpoints: all`), exactly as
the run's attribution computed them (same projection seed, damping, output function and encoding):

    P_m = Φ_m (Φ_mᵀΦ_m + λ_m I)⁻¹                  (n × k, prepared once)
    scores(answer) = mean_m[ P_m φ'_m ] ⊙ mean_m[Q_m]    (φ'_m: the answer's projected gradient under member m)

which is the run's TRAK formula (olab.attribution.trak) with the answer as the one target: for a run of one adapter,
the scores of its stored targets equal the run's score matrix.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from olab.adapters.data import Example, encode, iter_batches
from olab.attribution.api import CPU_BATCH, examples
from olab.attribution.featurize import (
    Featurizer,
    gradient_blocks,
    gradient_layout,
    mark_adapter_trainable,
)
from olab.attribution.members import ensemble_members
from olab.attribution.projection import make_projector
from olab.attribution.trak import damped_inverse, write_features
from olab.devices import AUTOCAST, resolve_device, resolve_precision
from olab.errors import OlabError


@dataclass
class Prepared:
    """One ensemble member ready to score answers: its featurizer and P_m (n × k float32)."""

    featurizer: Featurizer
    weights: torch.Tensor

    @classmethod
    def of(cls, featurizer: Featurizer, phi: np.ndarray, xtx: np.ndarray, damping: float) -> Prepared:
        """From the member's training features Φ_m (n × k) and Φ_mᵀΦ_m (float64): P_m = Φ_m (Φ_mᵀΦ_m + λ_m I)⁻¹."""
        inv, _ = damped_inverse(xtx, phi.shape[0], damping)
        weights = np.asarray(phi, dtype=np.float64) @ inv
        return cls(featurizer, torch.as_tensor(weights, dtype=torch.float32, device=featurizer.device))


class AnswerScorer:
    """`AnswerScorer.prepare(run, member)` once; then `scores(texts, labels)` per answer (n_train × len(texts))."""

    def __init__(self, task: str, tokenizer: Any, max_length: int, members: list[Prepared], mean_q: np.ndarray):
        self.task = task
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.members = members
        self.mean_q = torch.as_tensor(mean_q, dtype=torch.float64)

    @property
    def device(self) -> str:
        """The kind of device the scores are computed on ("cpu" or "cuda"), as a receipt states it."""
        return self.members[0].featurizer.device.type

    @classmethod
    def for_receipt(cls, run: Any, receipt: Mapping[str, Any]) -> AnswerScorer:
        """A scorer that recomputes `receipt`'s scores: its adapter member, on the kind of device it was scored on
        (scores recompute bit for bit on the same kind; a CPU cannot recompute a GPU's)."""
        device = receipt.get("scored_on", "cpu")
        if device == "cuda" and not torch.cuda.is_available():
            raise OlabError(f"receipt {receipt.get('receipt_id')} was scored on a CUDA GPU and its scores recompute "
                            "bit for bit only there: verify it on a machine with a GPU, or without --run")  # fmt: skip
        return cls.prepare(run, receipt.get("adapter", {}).get("member", 0), device)

    @classmethod
    def prepare(cls, run: Any, member: int = 0, device: str = "cpu") -> AnswerScorer:
        """Featurize the run's training records under adapter `member` (each of its ensemble members) and invert."""
        cfg = run.config.attribution
        adapter = run.adapters[member]
        dev = resolve_device(device, "attribution")
        autocast = AUTOCAST[resolve_precision(cfg.precision, dev, "attribution", without_bf16="fp32")]
        texts, labels = examples(run.datanet.to_hf(), adapter.task, list(adapter.labels))
        batch_size = cfg.batch_size or CPU_BATCH
        prepared, qs, projector, tokenizer = [], [], None, None
        with tempfile.TemporaryDirectory(prefix="olab-answers-") as work:
            for i, m in enumerate(ensemble_members([adapter], cfg.checkpoints)):
                model, tokenizer = m.load()
                if projector is None and cfg.proj_dim:
                    blocks = gradient_blocks(gradient_layout(mark_adapter_trainable(model)))
                    projector = make_projector(cfg.projection, blocks, cfg.proj_dim, cfg.proj_seed, dev)
                featurizer = Featurizer(model, adapter.task, projector, device=dev, autocast_dtype=autocast)
                batches = (b for _, b in iter_batches(tokenizer, texts, labels, adapter.task, cfg.max_length,
                                                      batch_size))  # fmt: skip
                feats = write_features(
                    featurizer.featurize, batches, len(texts), featurizer.dim, Path(work) / f"{i}.npy"
                )
                prepared.append(Prepared.of(featurizer, feats.array(), feats.xtx, cfg.damping))
                qs.append(feats.q)
        return cls(adapter.task, tokenizer, cfg.max_length, prepared, np.mean(qs, axis=0))

    def scores(self, texts: Sequence[Example], labels: Sequence[int] | None = None) -> np.ndarray:
        """(n_train × len(texts)) TRAK scores of the training records for these answers (a causal LM's text, or a
        (prompt, response) pair; a classifier's text with its predicted class id in `labels`)."""
        batch = encode(
            self.tokenizer, list(texts), None if labels is None else list(labels), self.task, self.max_length
        )
        acc = None
        for m in self.members:
            phi, _ = m.featurizer.featurize(batch)
            block = (m.weights @ phi.T.to(m.weights.device, torch.float32)).double()
            acc = block if acc is None else acc + block
        return (acc / len(self.members) * self.mean_q[:, None].to(acc.device)).float().cpu().numpy()
