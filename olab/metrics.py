"""Evaluation metrics for attribution: LDS (does attribution predict retraining?) and ROC AUC.

LDS, the linear datamodeling score (Park et al., 2023): train fresh models on m random subsets of
the training set, measure each target's output f, predict it as the sum of the attribution scores
of the subset's examples, and average over targets the Spearman correlation between predictions
and measurements across the m subsets. Targets whose correlation is undefined (constant
predictions or constant outputs) are counted and left out of the mean; the interval is a
percentile bootstrap over targets.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.stats import rankdata

from olab.errors import ValidationError


def _as_2d(name: str, x: object) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 2:
        raise ValidationError(f"{name} must be a 2-D array, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        bad = np.argwhere(~np.isfinite(arr))[0].tolist()
        raise ValidationError(f"{name} must be finite; entry {bad} is {arr[tuple(bad)]}")
    return arr


def spearman_columns(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Spearman correlation of each column of `a` with the same column of `b` (average ranks for ties).

    Returns one value per column; NaN where either column is constant (the correlation is undefined).
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 2:
        raise ValidationError(f"spearman_columns needs two 2-D arrays of equal shape, got {a.shape} and {b.shape}")
    ra = rankdata(a, axis=0)
    rb = rankdata(b, axis=0)
    ra -= ra.mean(axis=0)
    rb -= rb.mean(axis=0)
    num = (ra * rb).sum(axis=0)
    den = np.sqrt((ra * ra).sum(axis=0) * (rb * rb).sum(axis=0))
    out = np.full(a.shape[1], np.nan)
    defined = den > 0
    out[defined] = np.clip(num[defined] / den[defined], -1.0, 1.0)
    return out


def spearman(a: object, b: object) -> float:
    """Spearman rank correlation of two 1-D sequences; NaN when either is constant."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.ndim != 1 or a.shape != b.shape or a.size < 2:
        raise ValidationError(f"spearman needs two 1-D sequences of equal length >= 2, got {a.shape} and {b.shape}")
    return float(spearman_columns(a[:, None], b[:, None])[0])


@dataclass(frozen=True)
class LDSResult:
    """Mean LDS over the defined targets, its bootstrap interval, and the per-target correlations."""

    mean: float
    ci_low: float
    ci_high: float
    per_target: np.ndarray = field(repr=False)  # (n_targets,) Spearman per target; NaN where undefined
    n_undefined: int
    n_subsets: int
    confidence: float = 0.95

    @property
    def n_targets(self) -> int:
        return int(self.per_target.shape[0])

    def to_dict(self) -> dict:
        """JSON-ready summary (per-target values with NaN written as null)."""
        return {
            "lds": self.mean,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "confidence": self.confidence,
            "n_targets": self.n_targets,
            "n_undefined": self.n_undefined,
            "n_subsets": self.n_subsets,
            "per_target": [None if np.isnan(v) else float(v) for v in self.per_target],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LDSResult:
        """The inverse of `to_dict` (null per-target values back to NaN)."""
        per_target = np.array([np.nan if v is None else v for v in data["per_target"]], dtype=np.float64)
        fields = ("ci_low", "ci_high", "n_undefined", "n_subsets", "confidence")
        return cls(mean=data["lds"], per_target=per_target, **{f: data[f] for f in fields})


def top_and_bottom(scores: object, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the `k` highest scores (highest first) and the `k` lowest (lowest first); a stable sort, so
    equal scores keep a fixed order. A target's proponents and opponents, wherever they are shown."""
    s = np.asarray(scores, dtype=np.float64)
    order = np.argsort(-s, kind="stable")
    k = min(k, s.shape[0])
    return order[:k], order[::-1][:k]


def bootstrap_mean_ci(
    values: np.ndarray, *, bootstrap: int = 1000, seed: int = 0, confidence: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of `values` (resampled with replacement)."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        raise ValidationError("bootstrap_mean_ci needs at least one value")
    if bootstrap < 1:
        return float(values.mean()), float(values.mean())
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, values.size, size=(bootstrap, values.size))
    means = values[idx].mean(axis=1)
    tail = (1.0 - confidence) / 2.0 * 100.0
    low, high = np.percentile(means, [tail, 100.0 - tail])
    return float(low), float(high)


def lds(
    scores: object,
    masks: object,
    outputs: object,
    *,
    bootstrap: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> LDSResult:
    """Linear datamodeling score of attribution `scores` (n_train, n_targets).

    `masks` (m, n_train) bool marks the training examples in each retraining subset; `outputs`
    (m, n_targets) are the targets' measured outputs (e.g. classification margin) after retraining
    on each subset. The prediction for subset j and target t is masks[j] @ scores[:, t].
    """
    scores = _as_2d("scores", scores)
    masks_arr = np.asarray(masks)
    if masks_arr.ndim != 2 or masks_arr.dtype != np.bool_:
        raise ValidationError(
            f"masks must be a 2-D bool array (m subsets, n_train), got dtype {masks_arr.dtype} shape {masks_arr.shape}"
        )
    outputs = _as_2d("outputs", outputs)
    n_train, n_targets = scores.shape
    m = masks_arr.shape[0]
    if masks_arr.shape[1] != n_train:
        raise ValidationError(
            f"masks has {masks_arr.shape[1]} columns but scores has {n_train} training rows; they must match"
        )
    if outputs.shape != (m, n_targets):
        raise ValidationError(
            f"outputs must have shape (m subsets, n_targets) = ({m}, {n_targets}), got {outputs.shape}"
        )
    if m < 3:
        raise ValidationError(f"LDS needs at least 3 subsets to rank, got m={m}")
    if not 0.0 < confidence < 1.0:
        raise ValidationError(f"confidence must lie in (0, 1), got {confidence}")

    predictions = masks_arr.astype(np.float64) @ scores  # (m, n_targets)
    per_target = spearman_columns(predictions, outputs)
    defined = ~np.isnan(per_target)
    n_undefined = int((~defined).sum())
    if not defined.any():
        raise ValidationError(
            f"LDS is undefined for all {n_targets} targets: predictions or outputs are constant across the "
            f"{m} subsets (check that scores are non-zero and that retraining changes the outputs)"
        )
    values = per_target[defined]
    low, high = bootstrap_mean_ci(values, bootstrap=bootstrap, seed=seed, confidence=confidence)
    return LDSResult(
        mean=float(values.mean()),
        ci_low=low,
        ci_high=high,
        per_target=per_target,
        n_undefined=n_undefined,
        n_subsets=m,
        confidence=confidence,
    )


def paired_difference(
    a: LDSResult, b: LDSResult, *, bootstrap: int = 1000, seed: int = 0, confidence: float = 0.95
) -> tuple[float, float, float]:
    """(mean, ci_low, ci_high) of the per-target LDS difference a − b, over targets defined in both.

    Paired: the bootstrap resamples targets jointly, so noise the two methods share (hard targets,
    retraining noise) cancels, and the interval says whether one method beats the other on these targets.
    """
    if a.per_target.shape != b.per_target.shape:
        raise ValidationError(
            f"paired_difference needs results on the same targets, got {a.n_targets} and {b.n_targets} targets"
        )
    both = ~np.isnan(a.per_target) & ~np.isnan(b.per_target)
    if not both.any():
        raise ValidationError("paired_difference: no target has a defined LDS under both methods")
    diff = a.per_target[both] - b.per_target[both]
    low, high = bootstrap_mean_ci(diff, bootstrap=bootstrap, seed=seed, confidence=confidence)
    return float(diff.mean()), low, high


def random_subsets(n_train: int, m: int, fraction: float = 0.5, seed: int = 0) -> np.ndarray:
    """(m, n_train) bool masks, each selecting exactly round(fraction * n_train) examples at random."""
    if n_train < 1 or m < 1:
        raise ValidationError(f"random_subsets needs n_train >= 1 and m >= 1, got n_train={n_train}, m={m}")
    if not 0.0 < fraction < 1.0:
        raise ValidationError(f"fraction must lie strictly between 0 and 1, got {fraction}")
    size = round(fraction * n_train)
    if not 0 < size < n_train:
        raise ValidationError(
            f"fraction={fraction} of n_train={n_train} selects {size} examples; a subset must hold between 1 and "
            f"{n_train - 1}"
        )
    rng = np.random.default_rng(seed)
    masks = np.zeros((m, n_train), dtype=bool)
    for j in range(m):
        masks[j, rng.choice(n_train, size=size, replace=False)] = True
    return masks


def roc_auc(scores: object, labels: object) -> float:
    """Area under the ROC curve of `scores` for binary `labels` (True = positive); ties count one half.

    Computed from ranks (Mann–Whitney U), so it equals sklearn's `roc_auc_score` including ties.
    """
    s = np.asarray(scores, dtype=np.float64).ravel()
    y = np.asarray(labels).ravel()
    if s.shape != y.shape:
        raise ValidationError(f"roc_auc needs one label per score, got {s.size} scores and {y.size} labels")
    if y.dtype != np.bool_:
        if not np.isin(y, (0, 1)).all():
            raise ValidationError(f"roc_auc labels must be bool or 0/1, got values {np.unique(y)[:5].tolist()}")
        y = y.astype(bool)
    if not np.isfinite(s).all():
        raise ValidationError("roc_auc scores must be finite")
    n_pos = int(y.sum())
    n_neg = int(y.size - n_pos)
    if n_pos == 0 or n_neg == 0:
        raise ValidationError(f"roc_auc needs both classes, got {n_pos} positives and {n_neg} negatives")
    ranks = rankdata(s)
    u = ranks[y].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def roc_auc_interval(scores: np.ndarray, flagged: np.ndarray, bootstrap: int, seed: int = 0) -> dict[str, float]:
    """ROC AUC of `scores` flagging `flagged` records, with a 95% percentile bootstrap interval over records
    (resamples holding one class only are skipped)."""
    scores, flagged = np.asarray(scores), np.asarray(flagged, dtype=bool)
    auc = roc_auc(scores, flagged)
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(bootstrap):
        idx = rng.integers(0, len(scores), len(scores))
        if flagged[idx].any() and not flagged[idx].all():
            draws.append(roc_auc(scores[idx], flagged[idx]))
    low, high = np.percentile(draws, [2.5, 97.5]) if draws else (auc, auc)
    return {"auc": auc, "ci_low": float(low), "ci_high": float(high)}


def adapter_outputs(
    adapter: Any, texts: Sequence[str], labels: Sequence[str], *, max_length: int, batch_size: int = 64
) -> tuple[np.ndarray, np.ndarray]:
    """(margin, correct) per example under a fine-tuned classification adapter.

    margin is the output TRAK explains, log p_y/(1−p_y) of the label name in `labels` (what LDS compares
    attribution against); correct says whether the model's top class is that label.
    """
    import torch

    from olab.adapters.data import iter_batches
    from olab.adapters.models import label_maps
    from olab.attribution.outputs import classification_margin

    if adapter.task != "classification":
        raise ValidationError(f"adapter_outputs needs a classification adapter, {adapter.path} is {adapter.task!r}")
    index = label_maps(adapter.labels)["label2id"]
    unknown = sorted({v for v in labels if v not in index})
    if unknown:
        raise ValidationError(f"labels {unknown[:5]} are not among the adapter's labels {list(adapter.labels)}")
    model, tokenizer = adapter.load(device="cpu")
    ids = [index[v] for v in labels]
    margins = np.empty(len(texts), dtype=np.float64)
    correct = np.empty(len(texts), dtype=bool)
    with torch.no_grad():
        for idx, batch in iter_batches(tokenizer, list(texts), ids, "classification", max_length, batch_size):
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
            margins[idx] = classification_margin(logits, batch["labels"]).double().numpy()
            correct[idx] = (logits.argmax(dim=-1) == batch["labels"]).numpy()
    return margins, correct
