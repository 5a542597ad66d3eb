"""`olab reproduce RUN_DIR`: re-run a recorded experiment from scratch and compare.

The run is repeated on the very Datanet version it was trained on (its records re-hashed to the recorded
root first), so a Datanet that grew by signed contributions since then reproduces too. It runs in a
temporary work folder (removed afterwards) unless given one. Deterministic stages are compared by hash
(run id, Datanet root, adapters, scores, rewards root); attribution
also by the mean per-target Spearman correlation of the scores and the largest share difference in ppm,
which are meaningful when hashes differ (another device, another BLAS). `attest=True` publishes those
figures as a reviewer attestation.
"""

from __future__ import annotations

import tempfile
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import spearmanr

from olab import rewards as rewards_mod
from olab.attribution import Attribution
from olab.datanet import Datanet
from olab.io import read_json
from olab.pipeline.config import RunConfig
from olab.pipeline.manifest import RunLayout
from olab.pipeline.runner import run
from olab.progress import Progress


def mean_rank_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Mean over targets (columns) of the Spearman correlation between two score matrices."""
    if a.shape != b.shape:
        raise ValueError(f"score matrices differ in shape: {a.shape} vs {b.shape}")
    rhos = []
    for j in range(a.shape[1]):
        if np.array_equal(a[:, j], b[:, j]):
            rhos.append(1.0)
            continue
        rho = spearmanr(a[:, j], b[:, j]).statistic
        if np.isfinite(rho):
            rhos.append(float(rho))
    return float(np.mean(rhos)) if rhos else float("nan")


@dataclass
class ReproduceReport:
    run_id: str
    hashes: dict[str, tuple[str, str]]  # artifact -> (recorded, reproduced)
    rank_correlation: float
    max_share_diff_ppm: int
    reproduced_root: str
    attestation: dict[str, Any] | None = None

    @property
    def identical(self) -> bool:
        return all(a == b for a, b in self.hashes.values())

    def summary(self) -> str:
        lines = [f"reproduce {self.run_id}:"]
        for name, (recorded, got) in self.hashes.items():
            lines.append(f"  {'same' if recorded == got else 'DIFF'} {name:<12} {got}")
        lines.append(f"  score rank correlation (mean Spearman over targets): {self.rank_correlation:.6f}")
        lines.append(f"  largest share difference: {self.max_share_diff_ppm} ppm")
        if self.attestation:
            lines.append(f"  attested: tx {self.attestation.get('tx_hash')}")
        return "\n".join(lines)


def reproduce(
    run_dir: str | Path,
    *,
    attest: bool = False,
    work_dir: str | Path | None = None,
    datanet_path: str | Path | None = None,
    progress: bool | Progress = True,
) -> ReproduceReport:
    """Re-run the experiment recorded in `run_dir` in a fresh work dir and compare the results."""
    layout = RunLayout(Path(run_dir))
    manifest = read_json(layout.manifest)
    recorded_cfg = RunConfig.model_validate(manifest["config"])
    dn = Datanet.open(datanet_path or manifest["datanet"]["path"], version=manifest["datanet"]["version"])
    dn.verify()
    with ExitStack() as cleanup:
        if work_dir is None:  # a temporary work folder, removed when the comparison is done
            work_dir = cleanup.enter_context(tempfile.TemporaryDirectory(prefix="olab-reproduce-"))
        cfg = recorded_cfg.model_copy(deep=True)
        cfg.run.runs_dir = str(Path(work_dir) / "runs")
        cfg.run.publish = False
        result = run(cfg, datanet=dn, progress=progress)
        new_scores = np.array(Attribution.open(RunLayout(result.dir).attribution).scores)  # a copy, not a view

    again = result.manifest
    hashes = {
        "run id": (manifest["run_id"], again["run_id"]),
        "datanet": (manifest["datanet"]["root"], again["datanet"]["root"]),
        "adapter": (manifest["adapter"]["hash"], again["adapter"]["hash"]),
        "scores": (manifest["attribution"]["scores_hash"], again["attribution"]["scores_hash"]),
        "rewards": (manifest["rewards"]["root"], again["rewards"]["root"]),
    }
    recorded_scores = Attribution.open(layout.attribution).scores
    _, recorded_rewards = rewards_mod.load(layout.rewards)
    report = ReproduceReport(
        run_id=manifest["run_id"],
        hashes=hashes,
        rank_correlation=mean_rank_correlation(np.asarray(recorded_scores), new_scores),
        max_share_diff_ppm=rewards_mod.share_diff_ppm(recorded_rewards, result.rewards),
        reproduced_root=result.rewards.root,
    )
    if attest:
        from olab.pipeline.publish import ledger_for

        tx = ledger_for(manifest).attest(
            manifest["run_id"], report.reproduced_root, report.max_share_diff_ppm, report.rank_correlation
        )
        report.attestation = tx.to_json()
    return report
