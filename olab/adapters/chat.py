"""Instruction records (prompt, response) for causal LMs: chat formatting, response-only labels, greedy answers.

A record renders through the tokenizer's chat template as one user turn and one assistant turn. The
template's text up to and including the assistant header is the *prompt part*; the rest (the response and
the end-of-turn marker) is the *response part*. Both are tokenized separately and concatenated, so the
boundary is exact: labels are -100 on the prompt part and on padding, and the loss, the evaluation and
attribution's output function all cover the response tokens only. A tokenizer without a chat template
(e.g. tiny-gpt2) uses "prompt\\n" and "response<eos>".
"""

from __future__ import annotations

import inspect
import unicodedata
from collections.abc import Sequence
from typing import Any

import torch

from olab.adapters.models import label_column
from olab.hashing import INSTRUCTION_COLUMNS

IGNORE_INDEX = -100
Pair = tuple[str, str]


def instruction_view(ds: Any) -> Any:
    """A Datanet-shaped dataset (prompt stored as `text`, response as `label`) with columns prompt and response;
    a ClassLabel label (a classification Datanet's `to_hf()`) gives its names as the responses."""
    if hasattr(ds.features.get("label"), "int2str"):
        names = label_column(ds)
        ds = ds.remove_columns("label").add_column("label", names)
    return ds.rename_columns(dict(zip(("text", "label"), INSTRUCTION_COLUMNS, strict=True)))


def chat_parts(tokenizer: Any, prompt: str, response: str) -> Pair:
    """(prompt part, response part) of one record as text; their concatenation is the full chat."""
    if getattr(tokenizer, "chat_template", None):
        user = [{"role": "user", "content": prompt}]
        head = tokenizer.apply_chat_template(user, tokenize=False, add_generation_prompt=True)
        full = tokenizer.apply_chat_template([*user, {"role": "assistant", "content": response}], tokenize=False)
        if full.startswith(head):
            return head, full[len(head) :].rstrip()  # the template's newline after end-of-turn is not an answer
    return f"{prompt}\n", f"{response}{tokenizer.eos_token or ''}"


def _ids(tokenizer: Any, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def _fit(head: list[int], tail: list[int], max_length: int) -> tuple[list[int], list[int]]:
    """Truncate to max_length: the response keeps at least half the budget, the prompt loses its start."""
    if len(head) + len(tail) <= max_length:
        return head, tail
    tail = tail[: max(max_length - len(head), max_length // 2)]
    head = head[len(head) - (max_length - len(tail)) :] if max_length > len(tail) else []
    return head, tail


def encode_pairs(tokenizer: Any, pairs: Sequence[Pair], max_length: int) -> dict[str, torch.Tensor]:
    """Right-padded input_ids, attention_mask and labels (response tokens only) for (prompt, response) pairs."""
    rows = []
    for prompt, response in pairs:
        head, tail = chat_parts(tokenizer, prompt, response)
        rows.append(_fit(_ids(tokenizer, head), _ids(tokenizer, tail), max_length))
    width = max(len(h) + len(t) for h, t in rows)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    labels = torch.full((len(rows), width), IGNORE_INDEX, dtype=torch.long)
    for i, (h, t) in enumerate(rows):
        n = len(h) + len(t)
        ids[i, :n] = torch.tensor(h + t, dtype=torch.long)
        mask[i, :n] = 1
        labels[i, len(h) : n] = torch.tensor(t, dtype=torch.long)
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def labelled_positions(labels: torch.Tensor) -> torch.Tensor:
    """(B, L) bool: the positions whose logits predict a labelled token (position t predicts token t + 1)."""
    keep = torch.zeros_like(labels, dtype=torch.bool)
    keep[:, :-1] = labels[:, 1:] != IGNORE_INDEX
    return keep


def _slices_logits(model: Any) -> bool:
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return "logits_to_keep" in inspect.signature(base.forward).parameters


def labelled_logprob(model: Any, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Σ log p(token | everything before it) over each row's labelled tokens, shape (B,): the response's
    log-probability given the prompt for instruction records. The vocabulary projection runs only at the
    positions that predict a labelled token (transformers' `logits_to_keep` mask): for a 3-token answer after a
    40-token chat prompt that skips most of the output layer (SmolLM2's is 576 x 49,152, a fifth of the model's
    multiply-adds per token), forward and backward alike. Models without `logits_to_keep` compute all logits."""
    labels = batch["labels"]
    keep = labelled_positions(labels)
    inputs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}
    sliced = _slices_logits(model)  # logits: (number of kept positions, vocabulary) either way
    logits = model(**inputs, logits_to_keep=keep).logits if sliced else model(**inputs).logits[keep]
    targets = labels[:, 1:][keep[:, :-1]]  # row-major, like the kept positions
    logp = logits.float().log_softmax(dim=-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    rows = keep.nonzero()[:, 0]
    return torch.zeros(labels.shape[0], dtype=logp.dtype, device=logp.device).index_add(0, rows, logp)


def labelled_tokens(labels: torch.Tensor) -> int:
    """How many tokens the loss covers (the denominator of the mean per-token loss)."""
    return int((labels[:, 1:] != IGNORE_INDEX).sum())


@torch.no_grad()
def generate(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[str],
    *,
    max_new_tokens: int = 32,
    batch_size: int = 16,
    max_length: int = 512,
) -> list[str]:
    """Greedy answers to `prompts` (chat-formatted as in training), decoded without special tokens."""
    device = next(model.parameters()).device
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    was_training = model.training
    model.eval()
    answers: list[str] = []
    for start in range(0, len(prompts), batch_size):
        heads = [
            _ids(tokenizer, chat_parts(tokenizer, p, "")[0])[-max_length:] for p in prompts[start : start + batch_size]
        ]
        width = max(map(len, heads))
        ids = torch.full((len(heads), width), pad, dtype=torch.long)  # left padding: every answer starts at `width`
        mask = torch.zeros_like(ids)
        for i, h in enumerate(heads):
            ids[i, width - len(h) :] = torch.tensor(h, dtype=torch.long)
            mask[i, width - len(h) :] = 1
        out = model.generate(
            input_ids=ids.to(device), attention_mask=mask.to(device), max_new_tokens=max_new_tokens,
            do_sample=False, pad_token_id=pad, eos_token_id=tokenizer.eos_token_id,
        )  # fmt: skip
        answers += [a.strip() for a in tokenizer.batch_decode(out[:, width:], skip_special_tokens=True)]
    model.train(was_training)
    return answers


def normalise_answer(text: str) -> str:
    """Exact-match key: NFKC, case-folded, whitespace collapsed, a final full stop dropped."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split()).removesuffix(".")


def exact_match(answers: Sequence[str], references: Sequence[str]) -> float:
    """Fraction of answers equal to their reference after `normalise_answer`."""
    if len(answers) != len(references):
        raise ValueError(f"exact_match: {len(answers)} answers but {len(references)} references")
    hits = sum(normalise_answer(a) == normalise_answer(r) for a, r in zip(answers, references, strict=True))
    return hits / max(len(references), 1)


def answer_budget(tokenizer: Any, references: Sequence[str]) -> int:
    """New tokens enough for the longest reference answer plus its end-of-turn (greedy evaluation stops there)."""
    return max(len(_ids(tokenizer, r)) for r in references) + 4
