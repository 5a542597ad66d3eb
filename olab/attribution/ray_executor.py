"""`attribution.executor: ray`: featurization shards and scoring blocks run on a pool of Ray actors.

Each actor holds one model at a time (the ensemble member it last featurized), as in Ray Data's batch-inference
pattern, and is restarted by Ray if its process dies. We schedule shards on the actors ourselves rather than
streaming through Ray Data's `map_batches`: a shard is an idempotent pair of files on shared storage
(`olab.attribution.shards`), and olab needs to know which shards exist (an interrupted job resumes from them),
which one a dead worker was computing (exactly that one is resubmitted) and in which order the shards' ΦᵀΦ
are added (so the result is bit-identical to the local executor's). One task per shard on an actor pool gives
all three directly; Ray Data would add its own streaming executor, retries and block order on top.

Shards are whole batches of the local run (`shard_rows`), featurized by the same `write_features`, and scoring
blocks are the local run's blocks scored by the same `Scorer.block`: the arithmetic is the local executor's,
only where it runs differs. Adapters are loaded from their paths on each worker, so on a multi-node cluster
they (like `shard_storage`) must be on storage every node can read.
"""

from __future__ import annotations

import os
import socket
import tempfile
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from olab.attribution.featurize import (
    Featurizer,
    check_exact,
    gradient_blocks,
    gradient_layout,
    mark_adapter_trainable,
)
from olab.attribution.projection import make_projector
from olab.attribution.shards import ShardedRows, ShardStore, shard_bounds, shard_name, shard_rows
from olab.attribution.trak import Member, Scorer, fold_grams, write_features
from olab.devices import AUTOCAST, resolve_device, resolve_precision
from olab.errors import ConfigError, OlabError
from olab.hashing import hash_json

INSTALL = "pip install 'olab[ray]'"
MAX_ATTEMPTS = 3  # a shard whose worker dies this many times fails the job
WHICH = ("train", "targets")


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ConfigError(
            f"attribution.executor='ray' needs Ray, which is not installed: {INSTALL} (Ray 2.x), "
            "or set attribution.executor='local'"
        ) from None
    return ray


def _check_reachable(address: str) -> None:
    """Fail fast, with what to start, when nothing listens at a host:port address (ray.init would retry for a minute)."""
    if address == "auto":
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except (OSError, ValueError):
        raise OlabError(
            f"no Ray cluster is reachable at attribution.ray_address={address!r}: start one with `ray start --head` "
            "on the head node (and `ray start --address=HEAD:6379` on each worker node), or set ray_address: null "
            "to start Ray on this machine"
        ) from None


def connect(address: str | None, num_cpus: int) -> tuple[Any, bool]:
    """(the ray module, whether this call started or joined Ray, so should shut it down or leave afterwards).

    `address` None: the Ray already initialised in this process, else a new one-machine Ray with `num_cpus`.
    """
    ray = _import_ray()
    if ray.is_initialized():
        return ray, False
    if address is None:
        # Ray renices its workers by +15 so that they yield to its own daemons; on this machine the workers are the
        # job (what the local executor runs at the caller's priority), so they keep the driver's niceness
        system = {"worker_niceness": 0}
        # a second try: a loaded machine can miss the raylet's fixed 15 s agent start (ray-project/ray#65983)
        for attempt in range(2):
            try:
                ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False, _system_config=system)
                break
            except Exception:
                ray.shutdown()
                if attempt:
                    raise
        return ray, True
    _check_reachable(address)
    try:
        ray.init(address=address, log_to_driver=False)
    except (ConnectionError, RuntimeError) as err:
        raise OlabError(
            f"no Ray cluster is reachable at attribution.ray_address={address!r} ({err}); start one with "
            "`ray start --head`, or set ray_address: null to start Ray on this machine"
        ) from None
    return ray, True


@dataclass
class _Spec:
    """What every worker needs to featurize any shard (sent once, when the actor starts)."""

    members: list[Any]
    task: str
    cfg: Any
    batch_size: int
    store_url: str
    rows_per_shard: int
    n: dict[str, int]


class FeatureWorker:
    """A Ray actor: featurizes shards (keeping the model of the member it last used) and scores blocks."""

    def __init__(self, spec: _Spec):
        torch.set_num_threads(spec.cfg.cpus_per_worker)
        self.spec, self.store = spec, ShardStore(spec.store_url)
        self.loaded: tuple[int, Featurizer, Any] | None = None
        self.projectors: dict[str, Any] = {}
        self.fresh = True  # no shard featurized yet: the first one pays the process's imports

    def pid(self) -> int:
        return os.getpid()

    def _featurizer(self, i: int) -> tuple[Featurizer, Any]:
        """The featurizer of member i, loading its model (and drawing the projection once) if another is held."""
        if self.loaded is None or self.loaded[0] != i:
            self.loaded = None
            cfg = self.spec.cfg
            device = resolve_device(cfg.device, "attribution")
            autocast = AUTOCAST[resolve_precision(cfg.precision, device, "attribution", without_bf16="fp32")]
            model, tokenizer = self.spec.members[i].load()
            projector = None
            if cfg.proj_dim:
                blocks = gradient_blocks(gradient_layout(mark_adapter_trainable(model)))
                key = hash_json(blocks)
                if key not in self.projectors:
                    self.projectors[key] = make_projector(cfg.projection, blocks, cfg.proj_dim, cfg.proj_seed, device)
                projector = self.projectors[key]
            featurizer = Featurizer(model, self.spec.task, projector, device, autocast)
            if projector is None:
                check_exact(featurizer.grad_dim)
            self.loaded = (i, featurizer, tokenizer)
        return self.loaded[1], self.loaded[2]

    def featurize(
        self, member: int, which: str, index: int, texts: list[str], labels: list[int] | None
    ) -> dict[str, float]:
        """Featurize one shard and store it; return the seconds spent loading the model (with the imports a fresh
        worker process pays on its first shard), featurizing and writing the shard."""
        from olab.adapters.data import iter_batches

        t0 = time.perf_counter()
        featurizer, tokenizer = self._featurizer(member)
        t1 = time.perf_counter()
        cfg = self.spec.cfg
        batches = (b for _, b in iter_batches(tokenizer, texts, labels, self.spec.task, cfg.max_length,
                                              self.spec.batch_size))  # fmt: skip
        projection = featurizer.projector.describe() if featurizer.projector else {"kind": "none (exact)",
                                                                                   "k": featurizer.dim, "seed": None}  # fmt: skip
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "features.npy"
            f = write_features(featurizer.featurize, batches, len(texts), featurizer.dim, path)
            info = {"projection": projection, "grad_dim": featurizer.grad_dim, "feature_dim": featurizer.dim}
            t2 = time.perf_counter()
            self.store.write(shard_name(member, which, index), path.read_bytes(), f.q, f.xtx, info)
        first, self.fresh = self.fresh, False
        return {"load_s": t1 - t0, "featurize_s": t2 - t1, "write_s": time.perf_counter() - t2, "first": first}

    def score(self, scorer: Scorer, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, self-influence) of training rows start..stop, as the local executor scores that block."""
        readers = [self._rows(m, "train") for m in range(len(scorer.weights))]
        return scorer.block(readers, start, stop, torch.device("cpu"))

    def _rows(self, member: int, which: str) -> ShardedRows:
        return ShardedRows(self.store, member, which, self.spec.n[which], self.spec.rows_per_shard)


@dataclass
class _ShardFeatures:
    """One member's features on shards, shaped like `trak.Features` for `Scorer.prepare`."""

    reader: ShardedRows
    q: np.ndarray
    xtx: np.ndarray

    def array(self) -> np.ndarray:
        return self.reader.array()


def _await_restart(ray: Any, actor: Any, timeout: float = 600.0) -> None:
    """Block until Ray has restarted a dead actor (calls made while it restarts fail as 'unavailable')."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            ray.get(actor.pid.remote(), timeout=60)
            return
        except (ray.exceptions.RayActorError, ray.exceptions.GetTimeoutError):
            if time.monotonic() > deadline:
                raise OlabError(f"a Ray worker died and was not restarted within {timeout:.0f}s") from None
            time.sleep(0.5)


def _run_pool(ray: Any, actors: list[Any], tasks: list[Any], submit: Callable, on_result: Callable) -> list[Any]:
    """Run `tasks` on `actors`, one in flight per actor. A task whose actor died is resubmitted to the same actor,
    which Ray restarts; returns the resubmitted tasks. A task that raised fails the job with its error."""
    queue, idle, pending, attempts, redone = deque(tasks), deque(actors), {}, Counter(), []
    while queue or pending:
        while queue and idle:
            actor, task = idle.popleft(), queue.popleft()
            attempts[task] += 1
            pending[submit(actor, task)] = (actor, task)
        [ref], _ = ray.wait(list(pending), num_returns=1)
        actor, task = pending.pop(ref)
        try:
            result = ray.get(ref)
        except ray.exceptions.RayActorError as err:  # the worker process died: Ray restarts it
            if attempts[task] >= MAX_ATTEMPTS:
                raise OlabError(
                    f"Ray task {task} failed {MAX_ATTEMPTS} times, its worker died each time: {err}"
                ) from None
            _await_restart(ray, actor)
            redone.append(task)
            queue.appendleft(task)
        except ray.exceptions.RayTaskError as err:
            cause = getattr(err, "cause", None)
            if isinstance(cause, OlabError):
                raise cause from None
            raise OlabError(f"Ray task {task} failed: {cause or err}") from None
        else:
            on_result(task, result)
        idle.append(actor)
    return redone


def stored_member(store: ShardStore, member: int, n: dict[str, int], rows: int) -> tuple[Member, dict]:
    """(one member's train and target features as stored, the shards' info): Q concatenated, ΦᵀΦ folded in shard
    order with one shard's matrix in memory at a time, rows read from the shards when scoring asks for them."""
    feats, info = [], {}
    for w in WHICH:
        qs: list[np.ndarray] = []

        def grams(w: str = w, qs: list = qs) -> Iterator[np.ndarray]:
            for i in range(len(shard_bounds(n[w], rows))):
                q, gram, shard_info = store.stats(shard_name(member, w, i))
                qs.append(q)
                info.update(shard_info)
                yield gram

        gram = fold_grams(grams(), 0)
        feats.append(_ShardFeatures(ShardedRows(store, member, w, n[w], rows), np.concatenate(qs), gram))
    return Member(*feats), info


def run_on_ray(job: Any) -> dict[str, Any]:
    """Featurize and score `job` (an `api._Job`, engine olab) on Ray; return what `_Job.run_olab` returns."""
    from olab.attribution.api import CPU_BATCH

    cfg = job.cfg
    batch_size = job.batch_size or cfg.batch_size or CPU_BATCH
    rows = shard_rows(cfg.shard_size, batch_size)
    data = {"train": job.train, "targets": job.targets}
    n = {w: len(data[w][0]) for w in WHICH}
    key = hash_json({
        "members": [m.describe()["weights_hash"] for m in job.members], "data": data, "task": job.task,
        "batch_size": batch_size, "rows": rows,
        "features": cfg.model_dump(include={"proj_dim", "projection", "proj_seed", "max_length", "precision", "device"}),
    })[7:23]  # fmt: skip
    store = ShardStore(f"{job.shard_storage.rstrip('/')}/{key}")
    spec = _Spec(job.members, job.task, cfg, batch_size, store.url, rows, n)
    bounds = {w: shard_bounds(n[w], rows) for w in WHICH}
    every = [(m, w, i) for m in range(len(job.members)) for w in WHICH for i in range(len(bounds[w]))]
    found = store.done()
    tasks = [t for t in every if shard_name(*t) not in found]

    t0 = time.perf_counter()
    ray, started = connect(cfg.ray_address, cfg.num_workers * cfg.cpus_per_worker)
    t1 = time.perf_counter()
    times = job.timings
    times.update(ray_init_s=t1 - t0, worker_start_s=0.0, load_s=0.0, shard_write_s=0.0)
    worker = ray.remote(FeatureWorker).options(
        num_cpus=cfg.cpus_per_worker, num_gpus=cfg.gpus_per_worker, max_restarts=-1, max_task_retries=0
    )
    actors = [worker.remote(spec) for _ in range(cfg.num_workers)]
    try:
        advance = job.steps.next(f"featurize on Ray ({cfg.num_workers} workers)", sum(n.values()) * len(job.members))
        advance(sum(b - a for m, w, i in every if shard_name(m, w, i) in found for a, b in [bounds[w][i]]))

        def submit(actor: Any, t: tuple[int, str, int]) -> Any:
            (m, w, i), (a, b) = t, bounds[t[1]][t[2]]
            texts, labels = data[w]
            return actor.featurize.remote(m, w, i, texts[a:b], None if labels is None else labels[a:b])

        def featurized(t: tuple[int, str, int], seconds: dict[str, float]) -> None:
            if seconds["first"]:  # from the actor's creation to its first shard, less that shard's own work
                done = time.perf_counter() - t1 - seconds["featurize_s"] - seconds["write_s"]
                times["worker_start_s"] = max(times["worker_start_s"], done)
            times["load_s"] += seconds["load_s"]
            times["shard_write_s"] += seconds["write_s"]
            advance(bounds[t[1]][t[2]][1] - bounds[t[1]][t[2]][0])

        redone = _run_pool(ray, actors, tasks, submit, featurized)
        t2 = time.perf_counter()
        stored = [stored_member(store, m, n, rows) for m in range(len(job.members))]
        members, info = [member for member, _ in stored], stored[0][1]
        t3 = time.perf_counter()
        times.update(featurize_s=t2 - t1, shard_gather_s=t3 - t2)

        scorer = Scorer.prepare(members, cfg.damping)
        scorer_ref = ray.put(scorer)
        blocks = shard_bounds(n["train"], cfg.score_block_size)
        advance = job.steps.next("score on Ray", n["train"])
        self_influence = np.empty(n["train"], dtype=np.float64)

        def scored(block: tuple[int, int], result: tuple[np.ndarray, np.ndarray]) -> None:
            job.scores.write(block[0], result[0])
            self_influence[block[0] : block[1]] = result[1]
            advance(block[1] - block[0])

        redone += _run_pool(ray, actors, blocks, lambda a, b: a.score.remote(scorer_ref, *b), scored)
        times["score_s"] = time.perf_counter() - t3
    finally:
        for actor in actors:
            ray.kill(actor)
        if started:
            ray.shutdown()
    store.remove()
    return {
        "self_influence": self_influence,
        "projection": info["projection"],
        "grad_dim": info["grad_dim"],
        "feature_dim": info["feature_dim"],
        "damping_lambda": scorer.lams,
        "executor": {
            "kind": "ray",
            "workers": cfg.num_workers,
            "shard_rows": rows,
            "shards": len(every),
            "resumed": len(every) - len(tasks),
            "computed": len(tasks),
            "redone": [shard_name(*t) if len(t) == 3 else f"score rows {t[0]}..{t[1]}" for t in redone],
        },
    }
