"""Publishing a run's commitment, and checking it back, through `olab.Ledger`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from olab.datanet import Datanet
from olab.ledger import ChainConfig, Ledger, RunCommitment
from olab.ledger.records import MAX_URI_BYTES
from olab.ledger.settlement import check_settlement, settle_run
from olab.pipeline.config import RunConfig
from olab.pipeline.manifest import Manifest
from olab.rewards import Rewards

if TYPE_CHECKING:
    from olab.pipeline.artifact import Run


def commitment(manifest: Manifest) -> RunCommitment:
    """The values a run puts on chain, read from its manifest."""
    return RunCommitment(
        run_id=manifest.run_id,
        datanet_root=manifest.datanet.root,
        adapter_hash=manifest.adapter.hash,
        scores_hash=manifest.attribution.scores_hash,
        rewards_root=manifest.rewards.root,
        manifest_hash=manifest.manifest_hash,
    )


def ledger_for(run: Run, **kwargs: Any) -> Ledger:
    """The ledger `run` was published on, attached to the very contracts it used (`kwargs`: `Ledger` options)."""
    cfg: ChainConfig = run.config.chain
    return Ledger.from_config(cfg, addresses=run.manifest.chain.addresses or None, **kwargs)


def publish(cfg: RunConfig, manifest: dict[str, Any], dn: Datanet, paid: Rewards) -> dict[str, Any]:
    """Register the Datanet version, publish the run and, when `rewards.stake` is set, settle its stake
    (`olab.ledger.settlement`); returns the manifest's `chain` section."""
    ledger = Ledger.from_config(cfg.chain)
    registered = ledger.register_datanet_version(
        name=dn.name,
        version=dn.version,
        root=dn.root,
        parent_root=dn.manifest.get("parent_root"),  # None: the ledger writes the zero hash
        record_count=dn.manifest["record_count"],
        contributor_count=len(dn.contributors),
        metadata_hash=dn.metadata_hash,
        uri=str(dn.path) if len(str(dn.path).encode()) <= MAX_URI_BYTES else "",
    )
    published = ledger.publish_run(commitment(Manifest.model_validate(manifest)))
    out = {
        "backend": cfg.chain.backend,
        "chain_id": ledger.chain_id,
        "addresses": ledger.addresses,
        "transactions": {"register_datanet_version": registered.to_json(), "publish_run": published.to_json()},
    }
    if cfg.rewards.stake is not None:
        out["settlement"] = settle_run(ledger, manifest["run_id"], dn.name, paid, cfg.rewards.stake)
    return out


def check_on_chain(run: Run) -> list[str]:
    """Differences between the on-chain record of the run (its commitment, and the settlement of its stake)
    and its manifest (empty: they agree)."""
    ledger = ledger_for(run)
    m = run.manifest
    problems = ledger.verify_run(commitment(m))
    if m.chain.chain_id != ledger.chain_id:
        problems.append(f"chain id {ledger.chain_id} != manifest's {m.chain.chain_id}")
    stake = run.config.rewards.stake
    if not problems and (stake is not None or m.chain.settlement):
        problems += check_settlement(ledger, m.run_id, m.datanet.name, run.rewards, stake, m.chain.settlement)
    return problems
