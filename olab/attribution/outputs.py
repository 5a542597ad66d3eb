"""TRAK's model output function f and out-to-loss weight Q, batched and vmap-safe.

Classification: f = logit_y − logsumexp_{y'≠y} logit_{y'} (= log p_y/(1−p_y)), Q = 1 − p_y.
Causal LM: the same margin on the sequence probability p = Π_t p(y_t | y_<t) over labelled tokens,
f = log p − log(1 − p), Q = 1 − p; for long sequences f ≈ log p (the sequence log-probability).

Generated answers: for an instruction record only the response tokens (and its end-of-turn) are labelled,
so p = p(response | prompt) and f is the log-odds of the whole answer given the prompt. Why this output:
TRAK linearises the output whose change it explains and weights each training example by Q = ∂loss/∂f;
with f = log p − log(1 − p) the training loss −log p is exactly −log σ(f), the logistic loss TRAK's
derivation assumes, as classification's margin is for p_y. Once p is small (any answer of more than a few
tokens) log(1 − p) ≈ 0 and Q ≈ 1: f is then simply the response's log-probability, the quantity a user
means by "how likely was this answer", and every training record counts with its full gradient.
Both are written with gather/masked_fill only (no one_hot, no masked_select), so they also run
under `torch.func.vmap` for the traker engine.
"""

from __future__ import annotations

import torch
from torch import Tensor

from olab.adapters.chat import IGNORE_INDEX

OUTPUT_FUNCTION = {
    "classification": "margin log(p/(1-p)) of the label's probability p; Q = 1 - p",
    "causal_lm": "margin log(p/(1-p)) of p = p(labelled tokens), for instruction records p(response | prompt) "
    "(≈ the response's log-probability once p is small); Q = 1 - p",
}


def classification_margin(logits: Tensor, labels: Tensor) -> Tensor:
    """Per-example margin f for logits (B, C) and integer labels (B,)."""
    logits = logits.float()
    classes = torch.arange(logits.shape[-1], device=logits.device)
    is_label = classes == labels.unsqueeze(-1)
    correct = logits.gather(-1, labels.unsqueeze(-1)).squeeze(-1)
    others = logits.masked_fill(is_label, float("-inf")).logsumexp(dim=-1)
    return correct - others


def classification_q(logits: Tensor, labels: Tensor) -> Tensor:
    """Out-to-loss weight Q = 1 − p_y (TRAK's reweighting of each training example)."""
    probs = logits.float().softmax(dim=-1)
    return 1.0 - probs.gather(-1, labels.unsqueeze(-1)).squeeze(-1)


def sequence_logprob(logits: Tensor, labels: Tensor) -> Tensor:
    """Σ_t log p(label_{t+1} | ≤t) over positions whose label is not -100, per example (B,)."""
    logits = logits[..., :-1, :].float()
    targets = labels[..., 1:]
    keep = targets != IGNORE_INDEX
    safe = targets.masked_fill(~keep, 0)
    logp = logits.log_softmax(dim=-1).gather(-1, safe.unsqueeze(-1)).squeeze(-1)
    return (logp * keep).sum(dim=-1)


def sequence_margin(logits: Tensor, labels: Tensor) -> Tensor:
    """Per-example f = log p − log(1 − p) of the labelled continuation's probability p."""
    return logprob_margin_and_q(sequence_logprob(logits, labels))[0]


def logprob_margin_and_q(logprob: Tensor) -> tuple[Tensor, Tensor]:
    """(f, Q) of a labelled continuation from its log-probability log p: f = log p − log(1 − p), Q = 1 − p
    (no gradient). The olab featurizer gets log p from `chat.labelled_logprob`, which skips unneeded logits."""
    s = logprob.clamp(max=-1e-6)  # p < 1, so log(1 − p) is finite
    one_minus_p = -torch.expm1(s)
    return s - torch.log(one_minus_p), one_minus_p.detach()


def output_and_q(task: str, logits: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
    """(f, Q) per example for `task` ("classification" or "causal_lm"); Q carries no gradient."""
    if task == "classification":
        return classification_margin(logits, labels), classification_q(logits, labels).detach()
    if task == "causal_lm":
        return logprob_margin_and_q(sequence_logprob(logits, labels))
    raise ValueError(f"task must be 'classification' or 'causal_lm', got {task!r}")
