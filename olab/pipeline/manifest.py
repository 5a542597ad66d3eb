"""The run manifest: what a run consumed and produced, and the two hashes that identify it.

- `run_id`: sha256 over the manifest's content (config, input and output hashes), excluding the
  fields that are only known later or vary between identical runs (see `VOLATILE`) and the config keys
  that say where a run is kept or whether it is published rather than what it computes (`NOT_DEFINING`).
  Two runs of the same config on the same inputs have the same `run_id`, wherever they are kept;
  `olab reproduce` gets the recorded one back.
- `manifest_hash`: sha256 over the same content plus `run_id` and `files` (the digest of every file in the run
  directory, see `coverage`, which may name the run id); it is what goes on chain.

`Manifest` is the typed view of manifest.json (what `olab.Run` exposes); `RunLayout` defines the file
names of a run directory, in one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from olab.hashing import hash_json

VOLATILE = ("run_id", "manifest_hash", "files", "chain", "timings", "created_at")
NOT_DEFINING = {"run": ("runs_dir", "publish")}  # config section -> keys that do not change the result


def defining_config(config: dict[str, Any]) -> dict[str, Any]:
    """A resolved run config (as JSON) without the keys that do not change what a run computes."""
    return {
        section: {k: v for k, v in values.items() if k not in NOT_DEFINING.get(section, ())}
        if isinstance(values, dict)
        else values
        for section, values in config.items()
    }


def run_config_hash(config: dict[str, Any]) -> str:
    """The hash of what a resolved run config (as JSON) makes a run compute."""
    return hash_json(defining_config(config))


def content(manifest: dict[str, Any]) -> dict[str, Any]:
    """What `run_id` and `manifest_hash` cover."""
    out = {k: v for k, v in manifest.items() if k not in VOLATILE}
    if isinstance(out.get("config"), dict):
        out["config"] = defining_config(out["config"])
    return out


def as_recorded(path: str | Path) -> str:
    """A local path as a manifest records it: relative to the working directory (the project a run is made or
    reproduced in) when it lies under it, so the record does not depend on where the project sits
    (`Run.project_dir` roots it again); URLs and paths outside the project as they are."""
    text = str(path)
    if "://" in text or not Path(text).is_absolute():
        return text
    try:
        return Path(text).relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return text


def _as_bytes32(sha: str) -> str:
    return "0x" + sha.removeprefix("sha256:")


def compute_run_id(manifest: dict[str, Any]) -> str:
    return _as_bytes32(hash_json(content(manifest)))


def compute_manifest_hash(manifest: dict[str, Any]) -> str:
    files = {"files": manifest["files"]} if "files" in manifest else {}
    return _as_bytes32(hash_json({**content(manifest), "run_id": manifest["run_id"], **files}))


class _Part(BaseModel):
    # keys this model does not name are kept (and hashed, since run_id is computed over the JSON itself)
    model_config = ConfigDict(extra="allow", protected_namespaces=(), frozen=True)


class DatanetRef(_Part):
    """The Datanet version the run trained on (`path` as given to the run: relative to its working directory)."""

    path: str
    name: str
    version: int
    root: str
    record_count: int
    metadata_hash: str | None = None  # the version manifest's hash (as on chain); runs before it was recorded have none


class TargetsRef(_Part):
    """The target set explained, stored in the run directory (`path`) with the hash of its text and labels."""

    hash: str
    count: int
    path: str | None = None  # runs written before targets were stored in the run directory have none
    generated: bool = False  # labels are the adapter's greedy answers (targets.generate); references in `reference`


class BaseModelRef(_Part):
    id: str
    weight_hash: str


class AdaptersRef(_Part):
    """The fine-tuned adapters (one per ensemble member) and the hash over their hashes."""

    path: str
    models: list[str]
    hash: str


class AttributionRef(_Part):
    path: str
    engine: str
    config: dict[str, Any]
    shape: list[int]
    scores_hash: str


class RewardsRef(_Part):
    path: str
    root: str
    policy: str


class ChainRecord(_Part):
    """Where the run was published (`backend` None: not published)."""

    backend: str | None = None
    chain_id: int | None = None
    addresses: dict[str, str] = {}
    transactions: dict[str, dict[str, Any]] = {}
    settlement: dict[str, Any] | None = None  # the stake settled at publishing (olab.ledger.settlement)


class Manifest(_Part):
    """manifest.json, typed. The run's hashes are computed over the JSON (`compute_run_id`), not over this model."""

    olab_version: str
    name: str
    config: dict[str, Any]
    config_hash: str
    datanet: DatanetRef
    targets: TargetsRef
    base_model: BaseModelRef
    adapter: AdaptersRef
    attribution: AttributionRef
    rewards: RewardsRef
    run_id: str
    manifest_hash: str
    files: dict[str, str] = {}  # run file -> digest (`coverage.run_digests`); covered by manifest_hash
    chain: ChainRecord = ChainRecord()
    timings: dict[str, float] = {}
    created_at: str | None = None


class _InRun:
    """A run artifact's path: `layout.<name>` is `layout.dir / file`."""

    def __init__(self, file: str):
        self.file = file

    def __get__(self, layout: RunLayout | None, owner: type | None = None) -> Path:
        return Path(self.file) if layout is None else layout.dir / self.file


@dataclass(frozen=True)
class RunLayout:
    """Where each artifact of a run lives, relative to the run directory."""

    dir: Path
    manifest = _InRun("manifest.json")
    rewards = _InRun("rewards.json")
    report = _InRun("report.html")
    adapters = _InRun("adapters")
    attribution = _InRun("attribution")
    targets = _InRun("targets.parquet")
    record_loss = _InRun("record_loss.npy")  # each training record's loss under the adapters (olab.detection)

    def adapter(self, i: int) -> Path:
        return self.adapters / f"model-{i}"


def run_dir_name(run_id: str) -> str:
    """Directory name of a run: the first 16 hex digits of its id."""
    return run_id.removeprefix("0x")[:16]
