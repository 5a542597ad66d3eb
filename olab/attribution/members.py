"""Ensemble members: which weights of which adapter each one is, and how a process (a Ray worker too) loads them.

Kept apart from `olab.attribution.api` so that a Ray worker unpickling its job imports only what featurizing needs,
not the result and metrics modules (pandas, scipy) the driver uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from olab.hashing import sha256_dir


@dataclass
class EnsembleMember:
    """One member: an adapter's final weights (checkpoint None) or one of its checkpoints."""

    adapter: Any
    checkpoint: Path | None

    @property
    def weights_dir(self) -> Path:
        return Path(self.checkpoint) if self.checkpoint is not None else Path(self.adapter.adapter_dir)

    def load(self) -> tuple[Any, Any]:
        return self.adapter.load(checkpoint=self.checkpoint)

    def describe(self) -> dict[str, Any]:
        return {
            "adapter": str(self.adapter.path),
            "checkpoint": None if self.checkpoint is None else str(self.checkpoint),
            "weights_hash": sha256_dir(self.weights_dir),
        }


def ensemble_members(adapters: list[Any], which: str) -> list[EnsembleMember]:
    """Ensemble members: each adapter's final weights ('last'), or all its checkpoints ('all', when it has any)."""
    out = []
    for a in adapters:
        checkpoints = list(a.checkpoints) if which == "all" else []
        out.extend(EnsembleMember(a, c) for c in checkpoints or [None])
    return out
