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
from typing import TYPE_CHECKING, Any

import numpy as np

from olab import rewards as rewards_mod
from olab.metrics import spearman_columns
from olab.pipeline.artifact import Run
from olab.pipeline.runner import run as run_pipeline
from olab.progress import Progress

if TYPE_CHECKING:
    from olab.ledger import Ledger, TxResult


def mean_rank_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Mean over targets (columns) of the Spearman correlation between two score matrices."""
    if a.shape != b.shape:
        raise ValueError(f"score matrices differ in shape: {a.shape} vs {b.shape}")
    rhos = np.where((a == b).all(axis=0), 1.0, spearman_columns(a, b))  # identical columns agree, constant or not
    rhos = rhos[np.isfinite(rhos)]
    return float(rhos.mean()) if rhos.size else float("nan")


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

    def reproduced(self, max_share_diff_ppm: int = 0) -> bool:
        """Every hash is the same, or they differ (another device, another BLAS) but no share moved by more than
        `max_share_diff_ppm`."""
        return self.identical or self.max_share_diff_ppm <= max_share_diff_ppm

    def verdict(self, max_share_diff_ppm: int = 0) -> str:
        """One line saying whether the run reproduced (see `reproduced`) and, if not, what differs."""
        if self.identical:
            return "reproduced: every hash is the same"
        differ = ", ".join(name for name, (a, b) in self.hashes.items() if a != b)
        if self.reproduced(max_share_diff_ppm):
            return (f"reproduced within {max_share_diff_ppm} ppm: {differ} differ, the largest share difference is "
                    f"{self.max_share_diff_ppm} ppm")  # fmt: skip
        return (f"NOT reproduced: {differ} differ and the largest share difference is {self.max_share_diff_ppm} ppm "
                f"(accepted: {max_share_diff_ppm}; pass --max-share-diff PPM to accept a re-run on other hardware)")  # fmt: skip

    def attest(self, ledger: Ledger) -> TxResult:
        """Publish this comparison as `ledger`'s signer's attestation to the run (a reviewer's `with_signer`)."""
        tx = ledger.attest(self.run_id, self.reproduced_root, self.max_share_diff_ppm, self.rank_correlation)
        self.attestation = tx.to_json()
        return tx

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(self.summary())  # what a notebook cell shows

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
    run: Run | str | Path,
    *,
    attest: bool = False,
    work_dir: str | Path | None = None,
    datanet_path: str | Path | None = None,
    progress: bool | Progress = True,
) -> ReproduceReport:
    """Re-run the experiment recorded in `run` (a Run or its directory) in a fresh work dir and compare the results.

    The re-run uses the recorded config, the recorded Datanet version (its records re-hashed to the recorded
    root first) and the targets stored in the run directory; without `work_dir` it runs in a temporary folder,
    removed when the comparison is done."""
    recorded = run if isinstance(run, Run) else Run.open(run, datanet_path=datanet_path)
    dn = recorded.datanet
    dn.verify()
    with ExitStack() as cleanup:
        if work_dir is None:
            work_dir = cleanup.enter_context(tempfile.TemporaryDirectory(prefix="olab-reproduce-"))
        cfg = recorded.config.model_copy(deep=True)
        cfg.run.runs_dir = str(Path(work_dir) / "runs")
        cfg.run.publish = False
        again = run_pipeline(cfg, datanet=dn, targets=recorded.targets, progress=progress)
        new_scores = np.array(again.attribution.scores)  # a copy, not a view of a file about to be removed
        new_rewards = again.rewards

    before, after = recorded.manifest, again.manifest
    hashes = {
        "run id": (before.run_id, after.run_id),
        "datanet": (before.datanet.root, after.datanet.root),
        "adapter": (before.adapter.hash, after.adapter.hash),
        "scores": (before.attribution.scores_hash, after.attribution.scores_hash),
        "rewards": (before.rewards.root, after.rewards.root),
    }
    report = ReproduceReport(
        run_id=before.run_id,
        hashes=hashes,
        rank_correlation=mean_rank_correlation(np.asarray(recorded.attribution.scores), new_scores),
        max_share_diff_ppm=rewards_mod.share_diff_ppm(recorded.rewards, new_rewards),
        reproduced_root=new_rewards.root,
    )
    if attest:
        report.attest(reviewer_ledger(recorded.ledger(), report.run_id))
    return report


def reviewer_ledger(ledger: Ledger, run_id: str) -> Ledger:
    """The ledger that attests: the configured signer, except that on a local chain (embedded, anvil) whose
    default signer published the run, the next development account reviews (a publisher cannot attest to its
    own run). On a public chain, attest with a key other than the publisher's."""
    from olab.ledger.accounts import DEV_ACCOUNTS

    if ledger.backend == "rpc" or ledger.account != ledger.get_run(run_id)["publisher"]:
        return ledger
    return ledger.with_signer((ledger.cfg.dev_account + 1) % DEV_ACCOUNTS)
