"""What the widgets show of a finished run (`olab run` directory): its Datanet version, train and target rows,
attribution, rewards, and each contributor's simulated behaviour (when the Datanet was simulated)."""

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
    behaviours: dict[str, str]  # contributor address -> simulated behaviour


def run_parts(run_dir: str | Path) -> RunParts:
    """Open the artifacts of the run in `run_dir` (as `olab run` wrote them)."""
    from olab import rewards
    from olab.attribution import Attribution
    from olab.datanet import Datanet, load_source
    from olab.pipeline.config import RunConfig
    from olab.pipeline.manifest import RunLayout

    layout = RunLayout(Path(run_dir))
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
        behaviours={c["address"]: c["behaviour"] for c in dn.contributors if c.get("behaviour")},
    )
