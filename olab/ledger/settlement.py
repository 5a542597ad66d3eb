"""Settling a run's stake as it is published or as a usage epoch pays for its answers, and checking it back.

Settling (StakeVault.settle) happens once per run, before any claim: the publisher funds the run's
pool with `rewards.stake.pool` test tokens, then each address loses what its harmful records owe
(`olab.rewards.Rewards.slashes`: per record min(deposit_per_record, ceil(harm_ppm * pool / 1e6))), but
never more than it has staked in the Datanet (the one the publisher registered: stake is keyed by the
registry's id, so a same-named Datanet of another registrant is untouched), and the slashed tokens join
the pool. Publishing again finds the run settled and records the original transaction; a publish
interrupted between funding and settling funds only the shortfall when it resumes.

A run published without `rewards.stake` is settled by the first usage epoch that pays for its answers
(`olab settle STORE --run RUN_DIR --deposit-per-record N`, `settle_served`): the same rule, with the pool the
contributors' part of the fees its answers earned in that epoch (what the run's data earned from use), the
slashed tokens paid into the run's reward pool, claimed by its contributors with their run shares. A run is
settled at most once, by its publish or by one epoch, so a deposit never pays twice for the same run's harm;
a later epoch records the earlier settlement and slashes nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from eth_utils import to_checksum_address

from olab.errors import LedgerError

if TYPE_CHECKING:
    from olab.ledger.ledger import Ledger
    from olab.ledger.records import TxResult
    from olab.rewards import Rewards, StakeConfig


def settle_run(ledger: Ledger, run_id: str, datanet: str, paid: Rewards, stake: StakeConfig) -> dict[str, Any]:
    """Fund and settle a published run once (idempotent, resumable); the manifest's `settlement` record."""
    owed = paid.slashes(stake.pool, stake.deposit_per_record)
    sent: dict[str, Any] = {}
    if ledger.settlement(run_id) is None:
        short = stake.pool - ledger.pool(run_id)
        if short > 0:
            sent["fund"] = ledger.fund(run_id, short).to_json()
    done, slashed = slash_once(ledger, run_id, datanet, owed, ledger.account)
    return {
        "datanet": datanet,
        "pool": stake.pool,
        "deposit_per_record": stake.deposit_per_record,
        "owed": owed,
        "slashed": slashed,
        "transactions": {**sent, "settle": done.to_json()},
    }


def slash_once(
    ledger: Ledger, run_id: str, datanet: str, owed: dict[str, int], registrant: str
) -> tuple[TxResult, dict[str, int]]:
    """StakeVault.settle of `run_id` over Datanet `datanet` of `registrant`: each address loses what it owes, capped
    at its stake, once (a settled run keeps its settlement). (the settling transaction, {address: slashed})."""
    done = ledger.settlement(run_id)
    if done is None:
        slashes = {a: min(v, ledger.staked(datanet, a, registrant)) for a, v in owed.items()}
        try:
            done = ledger.settle(run_id, datanet, {a: v for a, v in slashes.items() if v}, registrant)
        except LedgerError:
            done = ledger.settlement(run_id)  # settled by a concurrent settle of the same run
            if done is None:
                raise
    slashed = {a: ledger.slashed(run_id, a) for a in owed}
    return done, {a: v for a, v in slashed.items() if v}


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


def settle_served(
    ledger: Ledger, run_id: str, datanet: str, paid: Rewards, fees: int, deposit_per_record: int, since: int
) -> dict[str, Any]:
    """Settle a published run's stake for a usage epoch (published at block `since`) whose answers of it earned its
    contributors `fees` tokens, once: a run settled before the epoch is recorded with `settled_before`, one settled
    since (by this epoch, stopped before it recorded it) as this epoch's. The epoch's `stake` record of the run."""
    publisher = ledger.get_run(run_id)["publisher"]
    before = ledger.settlement(run_id)
    owed = paid.slashes(fees, deposit_per_record)
    out = {"datanet": datanet, "registrant": publisher, "fees": fees, "deposit_per_record": deposit_per_record}
    if before is not None and before.block < since:
        return {**out, "settled_before": before.to_json()}
    done, slashed = slash_once(ledger, run_id, datanet, owed, publisher)
    return {**out, "owed": owed, "slashed": slashed, "transactions": {"settle": done.to_json()}}


def check_served(ledger: Ledger, run_id: str, record: dict[str, Any], fees: int, paid: Rewards | None) -> list[str]:
    """Differences between an epoch's `stake` record of one run, the fees its receipts give and the chain (with
    `paid`, the run's rewards: the amounts owed are recomputed by the rule too)."""
    problems = []
    if record.get("fees") != fees:
        problems.append(f"run {run_id}: stake settled on fees {record.get('fees')}, its receipts give {fees}")
    done = ledger.settlement(run_id)
    if done is None:
        return [*problems, f"run {run_id}: not settled on chain {ledger.chain_id} (StakeVault)"]
    tx = (record.get("settled_before") or (record.get("transactions") or {}).get("settle") or {}).get("tx_hash")
    if tx != done.tx_hash:
        problems.append(f"run {run_id}: settled in {done.tx_hash} on chain, the epoch records {tx}")
    want = "0x" + ledger.datanet_id(record.get("datanet", ""), record.get("registrant", "")).hex()
    if ledger.settled_datanet(run_id) != want:
        problems.append(f"run {run_id}: settled the stake of Datanet id {ledger.settled_datanet(run_id)}, "
                        f"not that of {record.get('datanet')!r} registered by {record.get('registrant')}")  # fmt: skip
    if "settled_before" in record:
        return problems
    owed, slashed = _by_address(record.get("owed")), _by_address(record.get("slashed"))
    if paid is not None and owed != paid.slashes(fees, record.get("deposit_per_record", 0)):
        problems.append(f"run {run_id}: owed {owed} is not what its rewards.json harm owes on {fees} tokens of fees")
    for who in sorted(owed.keys() | slashed.keys()):
        on_chain = ledger.slashed(run_id, who)
        if on_chain != slashed.get(who, 0) or on_chain > owed.get(who, 0):
            problems.append(f"run {run_id}, {who}: slashed {on_chain} on chain, the epoch records "
                            f"{slashed.get(who, 0)} of {owed.get(who, 0)} owed")  # fmt: skip
    return problems
