"""Which training records look harmful: one score per record, highest first, from two signals attribution gives.

- self-influence: TRAK's effect of a record on its own output (`self_influence.npy`); a record the model must
  bend to fit, such as a flipped label, has a large one;
- training loss: the fine-tuned adapter's loss on the record as it was given (the label's cross-entropy, or an
  answer's mean per-token loss given its prompt), averaged over the run's adapters; a wrong label or answer fits
  badly.

`METHODS` scores records by each signal and by combinations of the two; `DEFAULT` is the one flags and the
report's ROC view use. It was chosen by the best worst case of ROC AUC over both real data sets, measured by
the same code (`aucs`): AG News at 10/20/30/40% flipped labels and two contributor counts
(`experiments/reward_stability`), and SmolLM2 instruction records with wrong answers (`experiments/noisy_answers`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from olab.errors import ConfigError, ValidationError


def _ranks(x: np.ndarray) -> np.ndarray:
    """Ranks scaled to [0, 1] (ties share their mean rank)."""
    from scipy.stats import rankdata

    return (rankdata(x) - 1) / max(len(x) - 1, 1)


def _z(x: np.ndarray) -> np.ndarray:
    sd = x.std()
    return (x - x.mean()) / (sd if sd > 0 else 1.0)


def _within_class(x: np.ndarray, labels: Sequence[Any] | None) -> np.ndarray:
    """`x` standardised within each given label (a class that is hard for everyone does not look harmful)."""
    if labels is None:
        return _z(x)
    keys = np.asarray([str(v) for v in labels])
    out = np.empty_like(x)
    for k in np.unique(keys):
        at = keys == k
        out[at] = _z(x[at])
    return out


# method id -> (how people read it, score of each record from self-influence, training loss and the given labels)
METHODS: dict[str, tuple[str, Callable[[np.ndarray, np.ndarray, Sequence[Any] | None], np.ndarray]]] = {
    "self_influence": ("self-influence", lambda si, loss, labels: si),
    "training_loss": ("training loss", lambda si, loss, labels: loss),
    "loss_within_class": (
        "training loss standardised within its label",
        lambda si, loss, labels: _within_class(loss, labels),
    ),
    "mean_rank": (
        "mean rank of self-influence and training loss",
        lambda si, loss, labels: (_ranks(si) + _ranks(loss)) / 2,
    ),
    "z_sum": (
        "sum of z-scores of log self-influence and training loss",
        lambda si, loss, labels: _z(np.log(np.maximum(si, 1e-30))) + _z(loss),
    ),
}
DEFAULT = "mean_rank"


def describe(method: str) -> str:
    """How a report names `method`."""
    return METHODS[check_method(method)][0]


def check_method(method: str) -> str:
    if method not in METHODS:
        raise ConfigError(f"unknown detection method {method!r}; expected one of {', '.join(METHODS)}")
    return method


def harm_scores(
    self_influence: Any, loss: Any, labels: Sequence[Any] | None = None, method: str = DEFAULT
) -> np.ndarray:
    """One score per record under `method` (higher: more likely harmful). `labels`: the given labels, for methods
    that compare a record with its class (None for generated answers)."""
    si, tl = np.asarray(self_influence, dtype=np.float64), np.asarray(loss, dtype=np.float64)
    if si.shape != tl.shape:
        raise ValidationError(f"self-influence has {si.size} records and training loss {tl.size}; expected one each")
    return METHODS[check_method(method)][1](si, tl, labels)


def aucs(flagged: Any, self_influence: Any, loss: Any, labels: Sequence[Any] | None = None) -> dict[str, float]:
    """ROC AUC of every method at finding the `flagged` records (the ground truth)."""
    from olab.metrics import roc_auc

    return {m: roc_auc(harm_scores(self_influence, loss, labels, m), flagged) for m in METHODS}


def record_losses(adapters: Sequence[Any], records: Any, max_length: int, batch_size: int = 32) -> np.ndarray:
    """Each record's training loss under each adapter's final weights, averaged over the adapters. `records`: the
    training set as fine-tuning saw it (text and label; prompt and response for instruction records)."""
    import torch

    from olab.adapters.chat import IGNORE_INDEX, labelled_logprob
    from olab.adapters.data import iter_batches
    from olab.attribution.api import examples

    total = np.zeros(len(records), dtype=np.float64)
    for adapter in adapters:
        texts, label_ids = examples(records, adapter.task, list(adapter.labels))
        model, tokenizer = adapter.load(device="cpu")
        with torch.no_grad():
            for idx, batch in iter_batches(tokenizer, texts, label_ids, adapter.task, max_length, batch_size):
                if adapter.task == "classification":
                    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
                    loss = torch.nn.functional.cross_entropy(logits.float(), batch["labels"], reduction="none")
                else:
                    tokens = (batch["labels"][:, 1:] != IGNORE_INDEX).sum(dim=1).clamp(min=1)
                    loss = -labelled_logprob(model, batch) / tokens
                total[idx] += loss.double().numpy()
        del model
    return total / len(adapters)


__all__ = ["DEFAULT", "METHODS", "aucs", "describe", "harm_scores", "record_losses"]
