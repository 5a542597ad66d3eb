"""Publishing a run's commitment, and checking it back (record, Datanet version, transactions), through `olab.Ledger`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from web3.logs import DISCARD

from olab.datanet import Datanet
from olab.errors import LedgerError
from olab.ledger import ChainConfig, Ledger, RunCommitment
from olab.ledger.records import MAX_URI_BYTES, hex32, to_bytes32
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
    """The ledger `run` was published on, attached to the very contracts it used (`kwargs`: `Ledger` options).
    The chain's state folder, when relative, is the one in the run's project directory, not the working one."""
    return Ledger.from_config(run_chain_config(run), addresses=run.manifest.chain.addresses or None, **kwargs)


def run_chain_config(run: Run) -> ChainConfig:
    """The chain section of the run's config, its state folder (when relative) rooted in the run's project."""
    cfg: ChainConfig = run.config.chain
    return cfg.model_copy(update={"state_dir": str(run.in_project(cfg.state_dir))})


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
    """Differences between the chain and the run's manifest (empty: they agree). A published run is checked
    against its record, its Datanet version, each transaction it names and the settlement of its stake; an
    unpublished one must be unknown to the configured ledger, so a published run cannot be made to look
    unpublished by removing its chain section."""
    m = run.manifest
    if not m.chain.backend:
        return _check_unpublished(run)
    problems = (
        [] if run.config.run.publish else ["the manifest has a chain record, but its config says run.publish: false"]
    )
    if m.chain.backend != run.config.chain.backend:
        problems.append(f"chain backend {m.chain.backend} is not the config's {run.config.chain.backend}")
    ledger = ledger_for(run)
    problems += ledger.verify_run(commitment(m))
    if m.chain.chain_id != ledger.chain_id:
        problems.append(f"chain id {ledger.chain_id} != manifest's {m.chain.chain_id}")
    if problems:
        return problems
    publisher = ledger.get_run(m.run_id)["publisher"]
    version = ledger.datanet_version(m.datanet.name, m.datanet.version, registrant=publisher)
    if version is None:
        return [
            f"Datanet {m.datanet.name!r} version {m.datanet.version} is not registered on chain by the run's publisher"
        ]
    for name, value in (("root", m.datanet.root), ("metadata_hash", m.datanet.metadata_hash)):
        if version[name] != _hex32(value):
            problems.append(f"Datanet version's {name} on chain is {version[name]}, the manifest's {value}")
    if version["metadata_hash"] != _hex32(run.datanet.metadata_hash):
        problems.append(
            f"{run.datanet.path} version {m.datanet.version}'s manifest.json hashes to {run.datanet.metadata_hash}, "
            f"not the metadata_hash on chain {version['metadata_hash']}"
        )
    for name, tx in m.chain.transactions.items():
        problems += _transaction_problems(ledger, name, tx, _expected_events(m).get(name))
    stake = run.config.rewards.stake
    if stake is not None or m.chain.settlement:
        problems += check_settlement(
            ledger, m.run_id, m.datanet.name, run.rewards, stake, m.chain.settlement, publisher
        )
    return problems


def _hex32(value: str | None) -> str:
    return hex32(to_bytes32(value or "0x" + "00" * 32, "hash"))


def _expected_events(m: Manifest) -> dict[str, tuple[str, str, dict[str, Any]]]:
    """For each transaction `olab run` records: (contract, event, the event's arguments it must carry)."""
    c = commitment(m).as_bytes()
    return {
        "publish_run": ("AttributionRegistry", "RunPublished", {
            "runId": c["run_id"], "datanetRoot": c["datanet_root"], "adapterHash": c["adapter_hash"],
            "scoresHash": c["scores_hash"], "rewardsRoot": c["rewards_root"], "manifestHash": c["manifest_hash"],
        }),
        "register_datanet_version": ("DatanetRegistry", "VersionAppended", {
            "version": m.datanet.version, "root": c["datanet_root"],
            "metadataHash": to_bytes32(_hex32(m.datanet.metadata_hash), "metadata_hash"),
        }),
    }  # fmt: skip


def _transaction_problems(
    ledger: Ledger, name: str, recorded: dict[str, Any], event: tuple[str, str, dict[str, Any]] | None
) -> list[str]:
    """Where the chain's receipt of a transaction the manifest names disagrees with it (or lacks the event)."""
    tx_hash = str(recorded.get("tx_hash"))
    try:
        receipt = ledger.receipt(tx_hash)
    except LedgerError as e:
        return [f"transaction {name}: {e}"]
    actual = {
        "block": receipt["blockNumber"],
        "gas_used": receipt["gasUsed"],
        "status": receipt["status"],
        "explorer_url": ledger.explorer_url(tx_hash),
    }
    problems = [
        f"transaction {name} ({tx_hash}): {k} is {v} on chain, the manifest says {recorded.get(k)}"
        for k, v in actual.items()
        if recorded.get(k) != v
    ]
    if receipt["status"] != 1:
        problems.append(f"transaction {name} ({tx_hash}) failed on chain")
    if event is not None:
        contract, event_name, args = event
        logs = getattr(ledger.contract(contract).events, event_name)().process_receipt(receipt, errors=DISCARD)
        if not any(all(log["args"][k] == v for k, v in args.items()) for log in logs):
            problems.append(
                f"transaction {name} ({tx_hash}) emitted no {contract}.{event_name} with the manifest's values"
            )
    return problems


def _check_unpublished(run: Run) -> list[str]:
    """An unpublished run: its config must not ask to publish, and the configured ledger must not know it."""
    m = run.manifest
    if run.config.run.publish:
        return ["the config says run.publish: true, but the manifest has no chain record (it was removed, or "
                "publishing never happened)"]  # fmt: skip
    try:
        ledger = Ledger.existing(run_chain_config(run))
    except LedgerError as e:
        return [f"cannot check that the configured ledger has no record of this run ({e}); --no-chain skips it"]
    if ledger is None:
        return []  # no olab contracts on the configured chain: nothing was published there
    same = [
        r for r in ledger.runs_published_on(m.datanet.root)
        if r["run_id"] == m.run_id or r["scores_hash"] == m.attribution.scores_hash
    ]  # fmt: skip
    return [
        f"the ledger (chain {ledger.chain_id}) has run {r['run_id']} with these scores published in block "
        f"{r['block']} (tx {r['tx_hash']}), but the manifest has no chain record"
        for r in same
    ]


def registered_version_problems(dn: Datanet, ledger: Ledger) -> list[str]:
    """Where a registration of this Datanet version on `ledger` (found by its root) disagrees with its manifest:
    the registry holds the version's metadata_hash, so any edit of manifest.json but `created` shows here."""
    want = _hex32(dn.metadata_hash)
    return [
        f"{dn.path} version {dn.version}'s manifest.json hashes to {want}, but the version registered in block "
        f"{v['block']} (chain {ledger.chain_id}) has metadata_hash {v['metadata_hash']}"
        for v in ledger.versions_with_root(dn.root)
        if v["version"] == dn.version and v["metadata_hash"] != want
    ]
