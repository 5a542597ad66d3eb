"""What the widgets show of a finished run (`olab run` directory): its Datanet version, train and target rows,
attribution, rewards, and each contributor's display name (with its simulated behaviour, when simulated)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from olab.io import read_json


@dataclass
class RunParts:
    manifest: dict[str, Any]
    datanet: Any  # olab.Datanet at the run's version
    train: pd.DataFrame  # one row per training record, in score-row order
    targets: pd.DataFrame  # one row per target, in score-column order
    attribution: Any  # olab.attribution.Attribution
    rewards: Any  # olab.rewards.Rewards
    names: dict[str, str]  # contributor address -> display name (`olab.names`), as in rewards.json

    def labels(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        """Contributor labels for a widget: their display names, overridden by the caller's `extra`."""
        return self.names | dict(extra or {})


def run_parts(run: Any) -> RunParts:
    """Open the artifacts of a finished `olab run`: a RunResult or its directory (as `olab run` wrote it)."""
    from olab import rewards
    from olab.attribution import Attribution
    from olab.datanet import Datanet, load_source
    from olab.names import display_names
    from olab.pipeline.config import RunConfig
    from olab.pipeline.manifest import RunLayout

    layout = RunLayout(Path(getattr(run, "dir", run)))
    manifest = read_json(layout.manifest)
    dn = Datanet.open(manifest["datanet"]["path"], version=manifest["datanet"]["version"])
    cfg = RunConfig.model_validate(manifest["config"])
    targets = load_source(cfg.targets.source, cfg.targets.columns).to_pandas()
    _, shares = rewards.load(layout.rewards)
    return RunParts(
        manifest=manifest,
        datanet=dn,
        train=dn.to_pandas(),
        targets=targets,
        attribution=Attribution.open(layout.attribution),
        rewards=shares,
        names=display_names(dn.contributors) | shares.names,
    )
