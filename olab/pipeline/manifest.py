"""The run manifest: what a run consumed and produced, and the two hashes that identify it.

- `run_id`: sha256 over the manifest's content (config, input and output hashes), excluding the
  fields that are only known later or vary between identical runs (see `VOLATILE`) and the config keys
  that say where a run is kept or whether it is published rather than what it computes (`NOT_DEFINING`).
  Two runs of the same config on the same inputs have the same `run_id`, wherever they are kept;
  `olab reproduce` gets the recorded one back.
- `manifest_hash`: sha256 over the same content plus `run_id`; it is what goes on chain.

`run_dir_layout` defines the file names of a run directory, in one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from olab.hashing import hash_json

VOLATILE = ("run_id", "manifest_hash", "chain", "timings", "created_at")
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


def _as_bytes32(sha: str) -> str:
    return "0x" + sha.removeprefix("sha256:")


def compute_run_id(manifest: dict[str, Any]) -> str:
    return _as_bytes32(hash_json(content(manifest)))


def compute_manifest_hash(manifest: dict[str, Any]) -> str:
    return _as_bytes32(hash_json({**content(manifest), "run_id": manifest["run_id"]}))


@dataclass(frozen=True)
class RunLayout:
    """Where each artifact of a run lives, relative to the run directory."""

    dir: Path

    @property
    def manifest(self) -> Path:
        return self.dir / "manifest.json"

    @property
    def rewards(self) -> Path:
        return self.dir / "rewards.json"

    @property
    def report(self) -> Path:
        return self.dir / "report.html"

    @property
    def adapters(self) -> Path:
        return self.dir / "adapters"

    @property
    def attribution(self) -> Path:
        return self.dir / "attribution"

    def adapter(self, i: int) -> Path:
        return self.adapters / f"model-{i}"


def run_dir_name(run_id: str) -> str:
    """Directory name of a run: the first 16 hex digits of its id."""
    return run_id.removeprefix("0x")[:16]
