"""Batched inference over many adapters on one base: a dynamic batcher gathers the requests that arrive within
`max_wait_ms` (up to `max_batch`), groups those that can share a forward pass (same resident base, same kind,
same sampling settings) and runs each group as one mixed-adapter batch (`adapter_names=`, one name per row; the LoRA
layers gather each row's adapter weights, olab.serve.gathered).
A group spanning more adapters than may be resident at once runs in several batches; the adapters of a batch are
loaded (lazily, hash-checked) and pinned while it runs, and a refused adapter fails only its own requests.
"""

from __future__ import annotations

import queue
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import torch

from olab.serve.registry import Registry, ServedAdapter


@dataclass
class Job:
    """One request's work: `ids` are its prompt tokens (generate) or None with `text` (classify)."""

    adapter: str
    kind: str  # "generate" | "classify"
    ids: list[int] | None = None
    texts: list[str] | None = None
    max_tokens: int = 16
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None
    stops: list[str] = field(default_factory=list)
    future: Future = field(default_factory=Future)
    served: ServedAdapter | None = None  # resolved on submit: a request accepted before a DELETE still finishes

    def batch_key(self) -> tuple[Any, ...]:
        assert self.served is not None
        return (self.served.group, self.kind, self.temperature, self.top_p, self.seed)


@dataclass(frozen=True)
class Generated:
    text: str
    finish_reason: str
    completion_tokens: int


class Engine:
    """Runs Jobs in mixed-adapter batches on a worker thread; `submit` returns a Future of the Job's result."""

    def __init__(self, registry: Registry, *, max_batch: int = 32, max_wait_ms: float = 10.0) -> None:
        self.registry = registry
        self.max_batch = max_batch
        self.max_wait = max_wait_ms / 1000
        self.batches: list[list[str]] = []  # adapter names of each batch run (the last 1000), for tests and stats
        self._queue: queue.Queue[Job | None] = queue.Queue()
        self._thread = threading.Thread(target=self._loop, name="olab-serve-engine", daemon=True)
        self._thread.start()

    def submit(self, job: Job) -> Future:
        """Queue `job` (404 now, in the caller's thread, when its adapter is not served)."""
        job.served = job.served or self.registry.get(job.adapter)
        self._queue.put(job)
        return job.future

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=30)

    def _loop(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            jobs = [first]
            try:
                while len(jobs) < self.max_batch:
                    nxt = self._queue.get(timeout=self.max_wait)
                    if nxt is None:
                        self._queue.put(None)
                        break
                    jobs.append(nxt)
            except queue.Empty:
                pass
            groups: dict[tuple[Any, ...], list[Job]] = {}
            for job in jobs:
                groups.setdefault(job.batch_key(), []).append(job)
            for group in groups.values():
                for part in _within(group, self.registry.max_resident):
                    self._run(part)

    def _run(self, jobs: list[Job]) -> None:
        try:
            with self.registry.pinned([j.served for j in jobs]) as slots:  # type: ignore[misc]
                for job, slot in zip(jobs, slots, strict=True):
                    if not isinstance(slot, str):  # this adapter was refused (409): only its requests fail
                        job.future.set_exception(slot)
                ready = [(j, s) for j, s in zip(jobs, slots, strict=True) if isinstance(s, str)]
                if not ready:
                    return
                res = self.registry.base_of(ready[0][0].served)  # type: ignore[arg-type]
                run = _generate if jobs[0].kind == "generate" else _classify
                results = run(res.model, res.tokenizer, [j for j, _ in ready], [s for _, s in ready])
            self.batches = [*self.batches[-999:], [j.adapter for j, _ in ready]]
        except Exception as e:  # handed to each waiting request, which answers it; the worker keeps serving
            for job in jobs:
                if not job.future.done():
                    job.future.set_exception(e)
            return
        for (job, _), result in zip(ready, results, strict=True):
            job.future.set_result(result)


def _within(jobs: list[Job], most: int) -> list[list[Job]]:
    """`jobs` as batches of at most `most` distinct adapters each; when they must be cut, a window's requests for
    one adapter go in one batch (each adapter loads once per window)."""
    first: dict[Any, int] = {}
    for job in jobs:
        first.setdefault(job.served, len(first))
    if len(first) <= most:
        return [jobs]
    return [[j for j in jobs if first[j.served] // most == k] for k in range(-(-len(first) // most))]


@torch.no_grad()
def _generate(model: Any, tokenizer: Any, jobs: list[Job], slots: list[str]) -> list[Generated]:
    device = next(model.parameters()).device
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    width = max(len(j.ids or []) for j in jobs)
    ids = torch.full((len(jobs), width), pad, dtype=torch.long)  # left padding: every answer starts at `width`
    mask = torch.zeros_like(ids)
    for i, j in enumerate(jobs):
        ids[i, width - len(j.ids or []) :] = torch.tensor(j.ids, dtype=torch.long)
        mask[i, width - len(j.ids or []) :] = 1
    sampling: dict[str, Any] = {"do_sample": False}
    if jobs[0].temperature > 0:
        sampling = {"do_sample": True, "temperature": jobs[0].temperature, "top_p": jobs[0].top_p, "top_k": 0}
        if jobs[0].seed is not None:
            torch.manual_seed(jobs[0].seed)
    out = model.generate(
        input_ids=ids.to(device), attention_mask=mask.to(device), max_new_tokens=max(j.max_tokens for j in jobs),
        adapter_names=slots, pad_token_id=pad, eos_token_id=tokenizer.eos_token_id, **sampling,
    )  # fmt: skip
    return [_finish(tokenizer, out[i, width:].tolist()[: j.max_tokens], j) for i, j in enumerate(jobs)]


def _finish(tokenizer: Any, new: list[int], job: Job) -> Generated:
    """Cut at the end-of-sequence token or the first stop string ("stop"), else the token budget ran out ("length")."""
    reason = "length"
    if tokenizer.eos_token_id is not None and tokenizer.eos_token_id in new:
        new, reason = new[: new.index(tokenizer.eos_token_id)], "stop"
    text = tokenizer.decode(new, skip_special_tokens=True)
    cuts = [text.index(s) for s in job.stops if s in text]
    if cuts:
        text, reason = text[: min(cuts)], "stop"
    return Generated(text, reason, len(new))


@torch.no_grad()
def _classify(model: Any, tokenizer: Any, jobs: list[Job], slots: list[str]) -> list[list[list[float]]]:
    device = next(model.parameters()).device
    texts = [t for j in jobs for t in j.texts or []]
    names = [s for j, s in zip(jobs, slots, strict=True) for _ in j.texts or []]
    enc = tokenizer(texts, padding=True, return_tensors="pt").to(device)
    probs = model(**enc, adapter_names=names).logits.float().softmax(-1).tolist()
    out, start = [], 0
    for j in jobs:
        out.append(probs[start : start + len(j.texts or [])])
        start += len(j.texts or [])
    return out
