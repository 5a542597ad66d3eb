"""Publishing a run's commitment, and checking it back, through `olab.Ledger`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from olab.datanet import Datanet
from olab.ledger import ChainConfig, Ledger, RunCommitment
from olab.ledger.records import MAX_URI_BYTES
from olab.pipeline.config import RunConfig
from olab.pipeline.manifest import Manifest

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


def publish(cfg: RunConfig, manifest: dict[str, Any], dn: Datanet) -> dict[str, Any]:
    """Register the Datanet version and publish the run; returns the manifest's `chain` section."""
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
    return {
        "backend": cfg.chain.backend,
        "chain_id": ledger.chain_id,
        "addresses": ledger.addresses,
        "transactions": {"register_datanet_version": registered.to_json(), "publish_run": published.to_json()},
    }


def check_on_chain(run: Run) -> list[str]:
    """Differences between the on-chain record of the run and its manifest (empty: they agree)."""
    ledger = ledger_for(run)
    problems = ledger.verify_run(commitment(run.manifest))
    if run.manifest.chain.chain_id != ledger.chain_id:
        problems.append(f"chain id {ledger.chain_id} != manifest's {run.manifest.chain.chain_id}")
    return problems
