"""The adapters `olab serve` answers with: every member adapter of the given runs, registered by name at start,
loaded on first use onto one shared base model per (base, task, classes), and only after its files hash to the
adapter hash its run committed in manifest.json.

A served adapter's name (the request's `model`) is `<run directory name>-m<member>`, e.g. `3f2a9c01d4e5b6a7-m0`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from olab.adapters.adapter import ADAPTER_DIR, LABELS_FILE, PROVENANCE_FILE, artifact_hash
from olab.errors import OlabError
from olab.io import read_json


class RequestError(OlabError):
    """A request the server refuses: `status` is the HTTP status (4xx), the message says what would be right."""

    def __init__(self, status: int, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.param = param

    @property
    def kind(self) -> str:
        return {404: "NotFoundError", 409: "AdapterIntegrityError", 413: "PayloadTooLargeError"}.get(
            self.status, "BadRequestError"
        )


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


@dataclass
class Resident:
    """A loaded base model with the adapters loaded onto it so far (PEFT adapters named as served)."""

    model: Any
    tokenizer: Any
    adapters: set[str]


class Registry:
    """The served adapters and the resident base models; `resident(name)` loads on first use, checking hashes."""

    def __init__(self, adapters: dict[str, ServedAdapter]) -> None:
        if not adapters:
            raise OlabError("no adapters to serve: give at least one run directory written by `olab run`")
        self.adapters = adapters
        self._bases: dict[tuple[str, str, int], Resident] = {}
        self.lock = threading.RLock()  # held while loading an adapter and while a batch runs

    def get(self, name: str) -> ServedAdapter:
        try:
            return self.adapters[name]
        except KeyError:
            known = ", ".join(sorted(self.adapters)[:8])
            raise RequestError(404, f"model {name!r} is not served here; served adapters: {known} (GET /v1/models)",
                               "model") from None  # fmt: skip

    def resident(self, name: str) -> Resident:
        """The base model with adapter `name` loaded (loading it now if needed)."""
        served = self.get(name)
        with self.lock:
            res = self._bases.get(served.group)
            if res is not None and name in res.adapters:
                return res
            if not (served.path / ADAPTER_DIR).is_dir():
                raise unreadable(served, "its adapter files", f"{served.path / ADAPTER_DIR} is missing")
            try:
                _require(served, artifact_hash(served.path), served.committed_hash, f"its files at {served.path}",
                         f"run {served.run_id}", "restore the run's adapter files (or re-run it)")  # fmt: skip
                if res is None:
                    res = self._bases[served.group] = self._load_base(served)
                else:
                    res.model.load_adapter(str(served.path / ADAPTER_DIR), adapter_name=name)
                    res.adapters.add(name)
            except OSError as e:  # deleted between the check and the read
                raise unreadable(served, "its adapter files", e) from None
            res.model.eval()
            return res

    @staticmethod
    def _load_base(served: ServedAdapter) -> Resident:
        from peft import PeftModel

        from olab.adapters.models import base_weight_hash, load_base_model

        _require(served, base_weight_hash(served.base), served.base_weight_hash, f"base model {served.base!r}'s "
                 "weights", "its training", "serve it on the base model it was trained on")  # fmt: skip
        model, tokenizer = load_base_model(served.base, served.task, list(served.labels) or None)  # type: ignore[arg-type]
        peft = PeftModel.from_pretrained(model, str(served.path / ADAPTER_DIR), adapter_name=served.name)
        return Resident(peft, tokenizer, {served.name})
