"""Settling a run's stake as it is published, and checking the settlement back.

Settling (StakeVault.settle) happens once per run, before any claim: the publisher funds the run's
pool with `rewards.stake.pool` test tokens, then each address loses what its harmful records owe
(`olab.rewards.Rewards.slashes`: per record min(deposit_per_record, ceil(harm_ppm * pool / 1e6))), but
never more than it has staked in the Datanet (the one the publisher registered: stake is keyed by the
registry's id, so a same-named Datanet of another registrant is untouched), and the slashed tokens join
the pool. Publishing again finds the run settled and records the original transaction; a publish
interrupted between funding and settling funds only the shortfall when it resumes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from eth_utils import to_checksum_address

from olab.errors import LedgerError

if TYPE_CHECKING:
    from olab.ledger.ledger import Ledger
    from olab.rewards import Rewards, StakeConfig


def settle_run(ledger: Ledger, run_id: str, datanet: str, paid: Rewards, stake: StakeConfig) -> dict[str, Any]:
    """Fund and settle a published run once (idempotent, resumable); the manifest's `settlement` record."""
    owed = paid.slashes(stake.pool, stake.deposit_per_record)
    sent: dict[str, Any] = {}
    done = ledger.settlement(run_id)
    if done is None:
        short = stake.pool - ledger.pool(run_id)
        if short > 0:
            sent["fund"] = ledger.fund(run_id, short).to_json()
        slashes = {a: min(v, ledger.staked(datanet, a, ledger.account)) for a, v in owed.items()}
        try:
            done = ledger.settle(run_id, datanet, {a: v for a, v in slashes.items() if v})
        except LedgerError:
            done = ledger.settlement(run_id)  # settled by a concurrent publish of the same run
            if done is None:
                raise
    slashed = {a: ledger.slashed(run_id, a) for a in owed}
    return {
        "datanet": datanet,
        "pool": stake.pool,
        "deposit_per_record": stake.deposit_per_record,
        "owed": owed,
        "slashed": {a: v for a, v in slashed.items() if v},
        "transactions": {**sent, "settle": done.to_json()},
    }


def check_settlement(
    ledger: Ledger,
    run_id: str,
    datanet: str,
    paid: Rewards,
    stake: StakeConfig | None,
    record: dict[str, Any] | None,
    registrant: str,
) -> list[str]:
    """Differences between a run's stake config, its rewards, its manifest's settlement record and the chain
    (`registrant`: who registered the run's Datanet, its publisher; the stake settled must be that Datanet's)."""
    if stake is None:
        return ["the manifest records a settlement but the config has no rewards.stake"] if record else []
    if not record:
        return ["rewards.stake is set but the manifest records no settlement of the run's stake"]
    problems = []
    for key, want in (("datanet", datanet), ("pool", stake.pool), ("deposit_per_record", stake.deposit_per_record)):
        if record.get(key) != want:
            problems.append(f"settlement {key} is {record.get(key)!r}, the run's is {want!r}")
    owed = paid.slashes(stake.pool, stake.deposit_per_record)
    recorded_owed, recorded = (_by_address(record.get(k)) for k in ("owed", "slashed"))
    if recorded_owed != owed:
        problems.append(f"settlement owed {recorded_owed} is not what rewards.json's harm owes: {owed}")
    done = ledger.settlement(run_id)
    if done is None:
        return [*problems, f"run {run_id} is not settled on chain {ledger.chain_id} (StakeVault)"]
    want = "0x" + ledger.datanet_id(datanet, registrant).hex()
    if ledger.settled_datanet(run_id) != want:
        problems.append(
            f"the run settled the stake of Datanet id {ledger.settled_datanet(run_id)}, not that of {datanet!r} "
            f"registered by {registrant} ({want})"
        )
    tx = (record.get("transactions") or {}).get("settle") or {}
    if tx.get("tx_hash") != done.tx_hash:
        problems.append(f"the settlement's transaction is {tx.get('tx_hash')!r}, on chain it is {done.tx_hash}")
    for who in sorted(owed.keys() | recorded.keys()):
        on_chain = ledger.slashed(run_id, who)
        if on_chain != recorded.get(who, 0):
            problems.append(f"{who}: slashed {on_chain} on chain, the manifest says {recorded.get(who, 0)}")
        if on_chain > owed.get(who, 0):
            problems.append(f"{who}: slashed {on_chain}, more than its harmful records owe ({owed.get(who, 0)})")
    least = stake.pool + sum(recorded.values())
    if ledger.pool(run_id) < least:
        problems.append(f"the run's pool holds {ledger.pool(run_id)} tokens, less than pool + slashes = {least}")
    return problems


def _by_address(amounts: Any) -> dict[str, int]:
    if not isinstance(amounts, dict):
        return {}
    return {to_checksum_address(a): v for a, v in amounts.items()}
