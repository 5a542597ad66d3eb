"""The adapters `olab serve` answers with: every member adapter of the given runs (at start, or added and removed at
run time), registered by name and loaded lazily onto one shared base model per (base, task, classes), at most
`max_resident` at once (least recently used unloaded first), and only after its files hash to the adapter hash its
run committed in manifest.json and the run's commitment holds on chain.

A served adapter's name (the request's `model`) is `<run directory name>-m<member>`, e.g. `3f2a9c01d4e5b6a7-m0`."""

from __future__ import annotations

import itertools
import threading
import warnings
from collections import Counter, OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from olab.adapters.adapter import ADAPTER_DIR, LABELS_FILE, PROVENANCE_FILE, artifact_hash
from olab.errors import OlabError
from olab.io import read_json
from olab.serve import gathered


class RequestError(OlabError):
    """A request the server refuses: `status` is the HTTP status (4xx), the message says what would be right."""

    def __init__(self, status: int, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.param = param

    @property
    def kind(self) -> str:
        kinds = {401: "AuthenticationError", 403: "PermissionDeniedError", 404: "NotFoundError",
                 409: "AdapterIntegrityError", 413: "PayloadTooLargeError", 503: "ServiceUnavailableError"}  # fmt: skip
        return kinds.get(self.status, "BadRequestError")


@dataclass(frozen=True)
class ServedAdapter:
    """One adapter as registered: where it is and what its run committed to (nothing loaded yet)."""

    name: str
    path: Path
    run_dir: Path
    member: int
    run_id: str
    committed_hash: str
    task: str
    base: str
    base_weight_hash: str
    labels: tuple[str, ...]

    @property
    def group(self) -> tuple[str, str, int]:
        """Adapters sharing one resident base model: same base, same task, same number of classes."""
        return (self.base, self.task, len(self.labels) if self.task == "classification" else 0)


def served_name(run_dir: Path, member: int) -> str:
    return f"{run_dir.name}-m{member}"


def register_runs(run_dirs: list[str | Path]) -> dict[str, ServedAdapter]:
    """{name: ServedAdapter} for every member adapter of every run directory (read from manifests, not loaded)."""
    from olab.pipeline import Run

    out: dict[str, ServedAdapter] = {}
    for run_dir in run_dirs:
        run = Run.open(run_dir)
        for i, committed in enumerate(run.manifest.adapter.models):
            path = run.layout.adapter(i)
            if not (path / PROVENANCE_FILE).is_file() or not (path / ADAPTER_DIR).is_dir():
                raise OlabError(
                    f"run {run.dir}: adapter {i} is missing ({path} has no {PROVENANCE_FILE} or {ADAPTER_DIR}/)"
                )
            provenance = read_json(path / PROVENANCE_FILE)
            name = served_name(run.dir, i)
            if name in out:
                raise OlabError(f"run directory {run.dir} is given twice (adapter {name!r} already served)")
            out[name] = ServedAdapter(
                name=name,
                path=path,
                run_dir=run.dir,
                member=i,
                run_id=run.run_id,
                committed_hash=committed,
                task=provenance["task"],
                base=provenance["base_model"]["name"],
                base_weight_hash=provenance["base_model"]["weight_hash"],
                labels=tuple(read_json(path / LABELS_FILE) or ()),
            )
    return out


def unreadable(served: ServedAdapter, what: str, cause: object) -> RequestError:
    """409 for an adapter whose run files went missing or unreadable while serving (a run directory moved or deleted):
    the adapter no longer matches what its run committed, as with altered files; the operator can restore it."""
    return RequestError(
        409, f"adapter {served.name!r} cannot answer: {what} under {served.run_dir} cannot be read ({cause}); restore "
        "the run directory (or restart olab serve without it); the other adapters still answer", "model",
    )  # fmt: skip


def _require(served: ServedAdapter, found: str, committed: str, subject: str, committer: str, fix: str) -> None:
    """Refuse (409) an adapter whose files or base weights do not hash to what was committed."""
    if found != committed:
        raise RequestError(
            409, f"adapter {served.name!r} refused: {subject} hash to {found}, but {committer} committed {committed}; "
            f"{fix}", "model",
        )  # fmt: skip


def commitment_problems(run_dir: Path) -> tuple[str, list[str]]:
    """(where the run's commitment lives, what disagrees): the run's member adapter hashes against its combined
    adapter hash, and, exactly as `olab verify` checks it, the run against its chain record (a published run) or
    the configured chain's lack of one (an unpublished run). Empty problems: the run may be served."""
    from olab.hashing import hash_json
    from olab.pipeline import Run
    from olab.pipeline.publish import check_on_chain

    run = Run.open(run_dir)
    m = run.manifest
    where = f"chain {m.chain.chain_id} ({m.chain.backend})" if m.chain.backend else f"chain {run.config.chain.backend}"
    problems = [] if hash_json(m.adapter.models) == m.adapter.hash else [
        f"the member adapter hashes in manifest.json combine to {hash_json(m.adapter.models)}, not the committed "
        f"adapter hash {m.adapter.hash}"
    ]  # fmt: skip
    return where, problems + check_on_chain(run)


@dataclass
class Resident:
    """A loaded base model; the adapters on it are PEFT adapters named by their slot (see Registry.slot)."""

    model: Any
    tokenizer: Any


class Registry:
    """The served adapters and the resident base models. At most `max_resident` adapters are loaded at once: the
    least recently used one not pinned by a running batch is unloaded (PEFT `delete_adapter`) when another must load.
    An adapter loads only after its files hash to what its run committed and its run's commitment holds on chain.

    Threads: `lock` is held while a batch runs and while anything is loaded or unloaded, so a model is never changed
    under a forward pass; `pinned(...)` keeps a batch's adapters resident while it loads the others it needs.
    Readers of `adapters` take no lock (it is replaced, never changed in place)."""

    def __init__(
        self, adapters: dict[str, ServedAdapter], max_resident: int = 32, device: str = "cpu", precision: str = "fp32"
    ) -> None:
        if not adapters:
            raise OlabError("no adapters to serve: give at least one run directory written by `olab run`")
        if max_resident < 1:
            raise OlabError(f"max_resident={max_resident}: at least one adapter must fit (give 1 or more)")
        self.adapters = dict(adapters)
        self.max_resident = max_resident
        self.device, self.precision = device, precision  # where base models go, in which dtype (olab.devices)
        self.lock = threading.RLock()
        self.loads = self.hits = 0  # adapter loads and requests that found their adapter resident (stats)
        self._bases: dict[tuple[str, str, int], Resident] = {}
        self._slots: OrderedDict[ServedAdapter, str] = OrderedDict()  # resident adapters, least recently used first
        self._pins: Counter[ServedAdapter] = Counter()
        self._serial = itertools.count()
        self._committed: set[tuple[Path, str]] = set()  # (run dir, run id) whose commitment was checked and holds

    def get(self, name: str) -> ServedAdapter:
        try:
            return self.adapters[name]
        except KeyError:
            known = ", ".join(sorted(self.adapters)[:8])
            raise RequestError(404, f"model {name!r} is not served here; served adapters: {known} (GET /v1/models)",
                               "model") from None  # fmt: skip

    @property
    def resident_names(self) -> list[str]:
        """Names of the adapters loaded now, least recently used first."""
        return [s.name for s in list(self._slots)]  # list(): one step under the GIL, safe beside the engine thread

    def clash(self, adapters: dict[str, ServedAdapter]) -> None:
        """409 when one of `adapters` has the name of one served already, from another run directory."""
        taken = [n for n, a in adapters.items() if n in self.adapters and self.adapters[n] != a]
        if taken:
            raise RequestError(409, f"adapter {taken[0]!r} is served already, from {self.adapters[taken[0]].run_dir}; "
                               "DELETE /v1/adapters/{name} it first, or give a run directory of another name",
                               "run_dir")  # fmt: skip

    def add(self, adapters: dict[str, ServedAdapter]) -> None:
        """Register more adapters (none loaded yet); 409 on a name clash."""
        with self.lock:
            self.clash(adapters)
            self.adapters = {**self.adapters, **adapters}

    def remove(self, name: str) -> ServedAdapter:
        """Unregister `name`: later requests get 404; a batch already holding it finishes, then it is unloaded."""
        with self.lock:
            served = self.get(name)
            self.adapters = {n: a for n, a in self.adapters.items() if n != name}
            self._drop_unregistered()
            return served

    def resident(self, name: str) -> Resident:
        """Load adapter `name` now unless it is resident (checked as every load is); the base model it is on."""
        served = self.get(name)
        with self.pinned([served]) as (slot,):
            if isinstance(slot, RequestError):
                raise slot
            return self._bases[served.group]

    def base(self, name: str) -> Resident:
        """The base model adapter `name` runs on, loading it (with this adapter) only when no adapter of its group
        is resident: a request thread needs the tokenizer, not the adapter (that loads in its batch)."""
        res = self._bases.get(self.get(name).group)
        return res if res is not None else self.resident(name)

    def slot(self, name: str) -> str | None:
        """The PEFT adapter name adapter `name` is loaded under (None: not resident)."""
        return self._slots.get(self.get(name))

    def base_of(self, served: ServedAdapter) -> Resident:
        """The base model `served` is resident on (inside `pinned`)."""
        return self._bases[served.group]

    @contextmanager
    def pinned(self, adapters: list[ServedAdapter]) -> Iterator[list[str | RequestError]]:
        """Load `adapters` (one base group) and keep them resident inside the block: for each, its PEFT adapter name
        (slot), or the RequestError that refused it. More than `max_resident` distinct adapters cannot be pinned."""
        with self.lock:
            distinct = list(dict.fromkeys(adapters))
            if len(distinct) > self.max_resident:
                raise OlabError(
                    f"{len(distinct)} adapters cannot be resident at once (max_resident={self.max_resident})"
                )
            slots: dict[ServedAdapter, str | RequestError] = {}
            held: list[ServedAdapter] = []
            try:
                for a in distinct:  # each pinned as it loads, so loading the next cannot evict it
                    slots[a] = self._acquire(a)
                    if isinstance(slots[a], str):
                        held.append(a)
                        self._pins[a] += 1
                yield [slots[a] for a in adapters]
            finally:
                self._pins.subtract(held)
                self._pins += Counter()  # drop zero counts
                self._drop_unregistered()

    def _acquire(self, served: ServedAdapter) -> str | RequestError:
        if served in self._slots:
            self.hits += 1
            self._slots.move_to_end(served)
            return self._slots[served]
        try:
            self.verify(served)
            while len(self._slots) >= self.max_resident:
                self._evict()
            slot = f"s{next(self._serial)}"
            path = str(served.path / ADAPTER_DIR)
            res = self._bases.get(served.group)
            if res is None:
                self._bases[served.group] = self._load_base(served, slot)
            else:
                res.model.load_adapter(path, adapter_name=slot)
                if res.model.active_adapter not in res.model.peft_config:  # PEFT keeps naming a deleted last one
                    res.model.set_adapter(slot)
                res.model.eval()
        except RequestError as e:
            return e
        except OSError as e:  # deleted between the check and the read
            return unreadable(served, "its adapter files", e)
        self.loads += 1
        self._slots[served] = slot
        return slot

    def verify(self, served: ServedAdapter) -> None:
        """Refuse (409) an adapter whose files do not hash to its run's commitment, or whose run's commitment does not
        hold on chain (checked once per run, on the first load of any of its adapters)."""
        if not (served.path / ADAPTER_DIR).is_dir():
            raise unreadable(served, "its adapter files", f"{served.path / ADAPTER_DIR} is missing")
        _require(served, artifact_hash(served.path), served.committed_hash, f"its files at {served.path}",
                 f"run {served.run_id}", "restore the run's adapter files (or re-run it)")  # fmt: skip
        key = (served.run_dir, served.run_id)
        if key in self._committed:
            return
        try:
            where, problems = commitment_problems(served.run_dir)
        except OlabError as e:
            raise RequestError(503, f"adapter {served.name!r}: the commitment of run {served.run_id} cannot be "
                               f"checked ({e}); make its chain reachable and retry", "model") from None  # fmt: skip
        if problems:
            raise RequestError(409, f"adapter {served.name!r} refused: run {served.run_id} ({served.run_dir}) does not "
                               f"match its commitment on {where}: " + "; ".join(problems), "model")  # fmt: skip
        self._committed.add(key)

    def _evict(self) -> None:
        """Unload the least recently used adapter that no batch holds."""
        victim = next((a for a in self._slots if not self._pins[a]), None)
        if victim is None:  # cannot happen while one batch at a time pins at most max_resident adapters
            raise RequestError(503, f"all {len(self._slots)} resident adapters are in use (max_resident); retry")
        self._unload(victim)

    def _unload(self, served: ServedAdapter) -> None:
        with warnings.catch_warnings():  # PEFT warns that the deleted adapter was the active one: requests name theirs
            warnings.filterwarnings("ignore", message="Adapter .* was active which is now deleted")
            self._bases[served.group].model.delete_adapter(self._slots.pop(served))

    def _drop_unregistered(self) -> None:
        for served in [a for a in self._slots if self.adapters.get(a.name) != a and not self._pins[a]]:
            self._unload(served)

    def _load_base(self, served: ServedAdapter, slot: str) -> Resident:
        import torch
        from peft import PeftModel

        from olab.adapters.models import base_weight_hash, load_base_model
        from olab.devices import AUTOCAST

        _require(served, base_weight_hash(served.base), served.base_weight_hash, f"base model {served.base!r}'s "
                 "weights", "its training", "serve it on the base model it was trained on")  # fmt: skip
        model, tokenizer = load_base_model(served.base, served.task, list(served.labels) or None)  # type: ignore[arg-type]
        model.to(device=self.device, dtype=AUTOCAST[self.precision] or torch.float32)
        peft = PeftModel.from_pretrained(model, str(served.path / ADAPTER_DIR), adapter_name=slot)
        peft.eval()
        gathered.install(peft)  # mixed batches: one batched matmul per LoRA layer, not a loop over adapters
        return Resident(peft, tokenizer)
