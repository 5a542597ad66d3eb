"""Usage epochs: the receipts a server stored since the last epoch, paid out as one reward tree on chain.

An epoch covers a contiguous range of the receipt store. Each receipt's fee is divided by its `fee_split`
(olab.rewards.FeeSplit: developer, stakers, contributors) and the contributors' part by its `shares_ppm`; each address
gets its exact fraction of the epoch's fees as ppm rounded down (olab.rewards.floor_ppm: the units left, and the
contributors' part of an answer nobody helped, go to the pool-remainder leaf nobody can claim), in the run-rewards
tree (olab.rewards.from_shares: OpenZeppelin standard leaves `(address, uint256 share_ppm)`).

Settling goes through the run-rewards path: the epoch's commitment is published in the AttributionRegistry (its id
the epoch id, rewards root the epoch's root, scores hash the hash of its receipt ids, manifest hash the hash of its
record) and the RewardDistributor's pool for that id is funded with the epoch's fees in the test token; an address
claims `share_ppm * fees // 1e6` once with its proof, as from a run. The epoch is written to the store before
anything is sent, so a settle stopped at any step resumes where it stopped, and a receipt is never settled twice.
Given a deposit per record and the runs' directories, the epoch also settles the stake of each published run it pays
for that nothing settled yet (`olab.ledger.settlement.settle_served`: the run's contributor fees in the epoch are the
pool), recorded in the epoch's `chain` record under `stake` and checked by `problems` on chain.

The rounding rule, in this one place: an address is owed an exact fraction of the epoch's fees; its leaf holds that
fraction in ppm rounded down, and its claim pays `share_ppm * fees // 1e6`, so it receives less than its exact amount
by under `fees / 1e6 + 1` token units, which stay in the pool (the remainder leaf). Exact token amounts per leaf would
need leaves of amounts, which the RewardDistributor (it pays a ppm share of a pool) cannot pay without a contract
change; the ppm leaves keep one tree format and one claim path for runs and epochs.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eth_utils import is_address, to_checksum_address

from olab.errors import LedgerError, OlabError, ValidationError
from olab.hashing import canonical_json, keccak
from olab.rewards import LEAF_ENCODING, POOL_REMAINDER, PPM, FeeSplit, Rewards, floor_ppm, from_shares

if TYPE_CHECKING:
    from collections.abc import Mapping

    from olab.ledger import Ledger, TxResult
    from olab.ledger.config import ChainConfig
    from olab.pipeline import Run
    from olab.serve.store import ReceiptStore

EPOCH_KIND, EPOCH_VERSION = "olab usage epoch", 1
ZERO32 = "0x" + "00" * 32  # an epoch spans many runs: it commits to no single Datanet or adapter


def _hex(data: bytes) -> str:
    return "0x" + keccak(data).hex()


def _split(receipt: dict[str, Any]) -> tuple[int, FeeSplit | None, dict[str, Fraction]]:
    """(fee, its FeeSplit or None, the parts of it for developer, stakers and contributors) of one receipt."""
    rid = receipt.get("receipt_id")
    fee, split = receipt.get("fee"), receipt.get("fee_split")
    if isinstance(fee, bool) or not isinstance(fee, int) or fee < 0:
        raise ValidationError(f"receipt {rid}: fee is {fee!r}, expected a non-negative integer of token units")
    try:
        terms = FeeSplit(**split) if split else None
    except Exception as e:  # pydantic names the field
        raise ValidationError(f"receipt {rid}: fee_split {split!r} is not a valid FeeSplit ({e})") from None
    parts = terms.parts() if terms else {"developer": Fraction(0), "stakers": Fraction(0), "contributors": Fraction(1)}
    return fee, terms, parts


def contributor_fees(rows: list[tuple[int, dict[str, Any]]]) -> dict[str, int]:
    """{run id: the contributors' part of the fees its answers earned in these receipts, rounded down}: the pool
    whose harm-weighted part a run's harmful records owe when an epoch settles the run's stake."""
    out: dict[str, Fraction] = {}
    for _, r in rows:
        fee, _, parts = _split(r)
        out[r["run_id"]] = out.get(r["run_id"], Fraction(0)) + fee * parts["contributors"]
    return {run: int(v) for run, v in sorted(out.items())}


def fee_shares(receipt: dict[str, Any]) -> dict[str, Fraction]:
    """{address: exact token units} of one receipt's fee: developer and stakers by its fee_split, the contributors'
    part by its shares_ppm (to the pool remainder where nobody's record helped the answer)."""
    rid = receipt.get("receipt_id")
    shares = receipt.get("shares_ppm") or {}
    fee, terms, parts = _split(receipt)
    bad = [a for a, p in shares.items() if not is_address(a) or isinstance(p, bool) or not isinstance(p, int) or p < 0]
    if bad or sum(shares.values()) > PPM:
        raise ValidationError(f"receipt {rid}: shares_ppm must map addresses to non-negative ppm summing to at most "
                              f"{PPM}, got {shares}")  # fmt: skip
    out: dict[str, Fraction] = {}
    for role in ("developer", "stakers"):
        if parts[role] > 0:
            who = getattr(terms, f"{role}_address")
            out[who] = out.get(who, Fraction(0)) + fee * parts[role]
    ppm = {to_checksum_address(a): p for a, p in shares.items()}
    ppm[POOL_REMAINDER] = ppm.get(POOL_REMAINDER, 0) + PPM - sum(shares.values())
    for who, p in ppm.items():
        out[who] = out.get(who, Fraction(0)) + fee * parts["contributors"] * Fraction(p, PPM)
    return {a: v for a, v in out.items() if v}


def build(number: int, rows: list[tuple[int, dict[str, Any]]]) -> dict[str, Any]:
    """The record of epoch `number` over the (seq, receipt) rows: which receipts, their total fee, each address's
    share of it in ppm and the root of the tree over those shares."""
    ids = [r["receipt_id"] for _, r in rows]
    owed: dict[str, Fraction] = {}
    for _, receipt in rows:
        for who, amount in fee_shares(receipt).items():
            owed[who] = owed.get(who, Fraction(0)) + amount
    total = sum(int(r["fee"]) for _, r in rows)
    if total == 0:
        raise OlabError(
            f"nothing to settle: the {len(rows)} receipt(s) from seq {rows[0][0]} to {rows[-1][0]} carry no fee "
            "(start olab serve with --fee UNITS to charge each answer)"
        )
    shares = floor_ppm({who: amount / total for who, amount in owed.items()})
    rewards = from_shares(shares, "usage")
    return {
        "kind": EPOCH_KIND,
        "version": EPOCH_VERSION,
        "number": number,
        "first_seq": rows[0][0],
        "last_seq": rows[-1][0],
        "receipt_ids": ids,
        "receipts_hash": _hex(canonical_json(ids)),
        "total_fee": total,
        "shares_ppm": rewards.as_dict(),
        "root": rewards.root,
        "leaf_encoding": list(LEAF_ENCODING),
    }


def epoch_id(record: dict[str, Any]) -> str:
    """The epoch's id on chain (its key in the registry and the distributor): the hash of its whole record."""
    return _hex(EPOCH_KIND.encode() + canonical_json(record))


def commitment(record: dict[str, Any]) -> Any:
    """The epoch as a run commitment (the registry's record the distributor pays against)."""
    from olab.ledger import RunCommitment

    return RunCommitment(run_id=epoch_id(record), datanet_root=ZERO32, adapter_hash=ZERO32,
                         scores_hash=record["receipts_hash"], rewards_root=record["root"],
                         manifest_hash=_hex(canonical_json(record)))  # fmt: skip


@dataclass
class Epoch:
    """One epoch of a receipt store: its record, and the chain it was settled on (None while unsettled)."""

    number: int
    epoch_id: str
    record: dict[str, Any]
    chain: dict[str, Any] | None

    @property
    def rewards(self) -> Rewards:
        return from_shares(self.record["shares_ppm"], "usage")

    def amounts(self) -> dict[str, int]:
        """{address: token units its claim pays}: share_ppm * total_fee // 1e6, as the distributor computes it."""
        total = self.record["total_fee"]
        return {a: p * total // PPM for a, p in self.record["shares_ppm"].items()}

    def ledger(self, cfg: ChainConfig | None = None) -> Ledger:
        """The ledger the epoch was settled on (its recorded chain, or `cfg`), attached to the contracts it used."""
        from olab.ledger import Ledger
        from olab.ledger.config import ChainConfig

        if self.chain is None:
            raise OlabError(f"epoch {self.number} is not settled yet: run olab settle to finish it")
        ledger = Ledger(cfg or ChainConfig(**self.chain["config"]), addresses=self.chain["addresses"])
        if ledger.chain_id != self.chain["chain_id"]:
            ledger.close()
            raise LedgerError(f"epoch {self.number} was settled on chain {self.chain['chain_id']}, not on chain "
                              f"{ledger.chain_id}: give that chain's config")  # fmt: skip
        return ledger

    def claim(self, contributor: str, ledger: Ledger) -> TxResult:
        """Pay `contributor` its share of the epoch's fees, once, with the share and proof from the epoch's tree."""
        try:
            share = self.rewards.share(contributor)
        except ValidationError:
            raise OlabError(f"{contributor} has no share in epoch {self.number} (epoch id {self.epoch_id}): only the "
                            f"{len(self.record['shares_ppm'])} addresses its receipts pay can claim") from None  # fmt: skip
        return ledger.claim(self.epoch_id, share.contributor, share.share_ppm, share.proof, f"epoch {self.number}")


def epochs(store: ReceiptStore) -> list[Epoch]:
    return [Epoch(e["number"], e["epoch_id"], e["record"], e["chain"]) for e in store.epochs()]


def epoch(store: ReceiptStore, number: int) -> Epoch:
    found = {e.number: e for e in epochs(store)}
    if number not in found:
        have = ", ".join(map(str, found)) or "none yet (olab settle opens the first)"
        raise OlabError(f"{store.path} has no epoch {number}; its epochs: {have}")
    return found[number]


def settle(
    store: ReceiptStore, ledger: Ledger, runs: Mapping[str, Run] | None = None, deposit_per_record: int | None = None
) -> Epoch:
    """Close an epoch over the receipts stored since the last one and pay it on chain; an epoch a previous settle
    left unfinished is finished first (same receipts, same id). OlabError when there is nothing to settle. One
    settle of a store at a time (a lock file beside it), so two never fund one epoch twice.

    With `deposit_per_record`, the epoch also settles the stake of each run it pays for (`runs`: the runs by id,
    whose rewards.json gives the harm) that no publish or earlier epoch settled (olab.ledger.settlement)."""
    from filelock import FileLock

    with FileLock(f"{store.path}.settle.lock"):
        return _settle(store, ledger, runs or {}, deposit_per_record)


def _settle(store: ReceiptStore, ledger: Ledger, runs: Mapping[str, Run], deposit: int | None) -> Epoch:
    done = epochs(store)
    pending = next((e for e in done if e.chain is None), None)
    if pending is None:
        last = done[-1].record["last_seq"] if done else 0
        rows = store.after(last)
        if not rows:
            since = f"epoch {done[-1].number} (seq {last})" if done else "the store was created"
            raise OlabError(f"nothing to settle: {store.path} holds no receipt since {since}")
        record = build(len(done) + 1, rows)
        if not store.open_epoch(record["number"], record["first_seq"], record["last_seq"], epoch_id(record), record):
            return _settle(store, ledger, runs, deposit)  # opened by a settle that did not take the lock: finish it
        pending = Epoch(record["number"], epoch_id(record), record, None)
    chain = _pay(ledger, pending)
    if deposit is not None:
        rows = store.between(pending.record["first_seq"], pending.record["last_seq"])
        chain["stake"] = _settle_stake(ledger, rows, runs, deposit, chain["transactions"]["publish"]["block"])
    store.close_epoch(pending.number, chain)
    pending.chain = chain
    return pending


def _pay(ledger: Ledger, e: Epoch) -> dict[str, Any]:
    """Publish the epoch's commitment and fund its pool with its fees (each step skipped when already on chain)."""
    published = ledger.publish_run(commitment(e.record))
    short = e.record["total_fee"] - ledger.pool(e.epoch_id)
    funded = ledger.fund(e.epoch_id, short).to_json() if short > 0 else _funding(ledger, e.epoch_id, published.block)
    return {
        "backend": ledger.backend,
        "chain_id": ledger.chain_id,
        "config": {**ledger.cfg.model_dump(mode="json"), "state_dir": str(Path(ledger.cfg.state_dir).resolve())},
        "addresses": ledger.addresses,
        "transactions": {"publish": published.to_json(), "fund": funded},
    }


def _settle_stake(
    ledger: Ledger, rows: list[tuple[int, dict[str, Any]]], runs: Mapping[str, Run], deposit: int, since: int
) -> dict[str, Any]:
    """{run id: its stake record} for each run the epoch pays for: settled by this epoch, settled before, or why not."""
    from olab.ledger.settlement import settle_served

    _positive_units(deposit, "deposit_per_record")
    out: dict[str, Any] = {}
    for run_id, fees in contributor_fees(rows).items():
        if run_id not in runs:
            out[run_id] = {"fees": fees, "not_settled": "its run directory was not given (olab settle --run RUN_DIR)"}
        elif not ledger.is_published(run_id):
            out[run_id] = {"fees": fees, "not_settled": f"the run is not published on chain {ledger.chain_id}"}
        else:
            run = runs[run_id]
            out[run_id] = settle_served(ledger, run_id, run.manifest.datanet.name, run.rewards, fees, deposit, since)
    return out


def _positive_units(value: Any, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValidationError(f"{what} must be a positive integer number of token units, got {value!r}")


def _funding(ledger: Ledger, key: str, since: int) -> dict[str, Any]:
    """The transaction that funded a pool an earlier, interrupted settle already funded."""
    from olab.ledger.records import to_bytes32

    event = ledger.contract("RewardDistributor").events.Funded()
    logs = ledger.chain.guard("finding the epoch's funding", lambda: event.get_logs(
        from_block=since, argument_filters={"runId": to_bytes32(key, "epoch id")}))  # fmt: skip
    if not logs:
        raise LedgerError(f"epoch {key}: its pool holds its fees but no Funded event was found")
    return {"tx_hash": "0x" + bytes(logs[0]["transactionHash"]).hex(), "block": logs[0]["blockNumber"],
            "already_recorded": True}  # fmt: skip


def problems(
    store: ReceiptStore, number: int, ledger: Ledger | None = None, runs: Mapping[str, Run] | None = None
) -> list[str]:
    """Every broken link of epoch `number`: its receipts against the store (each one's id, EIP-712 signature and
    record proofs), its record recomputed from them, and (with `ledger`) the commitment, pool and stake settlements
    on chain (with `runs`, by id: the stake owed recomputed from their rewards). Empty: the epoch holds."""
    from olab.serve.receipts import problems as receipt_problems

    e = epoch(store, number)
    rec, out = e.record, []
    rows = store.between(rec["first_seq"], rec["last_seq"])
    stored = [r["receipt_id"] for _, r in rows]
    if stored != rec["receipt_ids"]:
        gone, extra = set(rec["receipt_ids"]) - set(stored), set(stored) - set(rec["receipt_ids"])
        out.append(f"receipts: the store's seq {rec['first_seq']}..{rec['last_seq']} differ from the epoch's "
                   f"(missing {sorted(gone)[:3]}, not in the epoch {sorted(extra)[:3]})")  # fmt: skip
    for seq, r in rows:
        out += [f"receipt {r['receipt_id']} (seq {seq}): {p}" for p in receipt_problems(r)]
    if e.epoch_id != epoch_id(rec):
        out.append(f"epoch id: the record hashes to {epoch_id(rec)}, the store says {e.epoch_id}")
    try:
        again = build(number, rows)
    except OlabError as err:
        return [*out, f"recomputing the epoch: {err}"]
    for key in ("receipts_hash", "total_fee", "root"):
        if again[key] != rec[key]:
            out.append(f"{key}: the receipts give {again[key]}, the epoch records {rec[key]}")
    for who in sorted(again["shares_ppm"].keys() | rec["shares_ppm"].keys()):
        want, got = again["shares_ppm"].get(who, 0), rec["shares_ppm"].get(who, 0)
        if want != got:
            out.append(f"share of {who}: the receipts give {want} ppm, the epoch records {got} ppm")
    if e.chain is None:
        return [*out, f"epoch {number} is not settled on chain yet (olab settle finishes it)"]
    return out if ledger is None else out + _on_chain(ledger, e) + _stake_on_chain(ledger, e, rows, runs or {})


def _stake_on_chain(
    ledger: Ledger, e: Epoch, rows: list[tuple[int, dict[str, Any]]], runs: Mapping[str, Run]
) -> list[str]:
    from olab.ledger.settlement import check_served

    recorded = (e.chain or {}).get("stake")
    if recorded is None:
        return []
    fees, out = contributor_fees(rows), []
    if set(recorded) != set(fees):
        out.append(f"stake: the epoch records runs {sorted(recorded)}, its receipts pay runs {sorted(fees)}")
    for run_id, rec in sorted(recorded.items()):
        if "not_settled" in rec:  # nothing on chain to check: a later epoch may settle the run
            if rec.get("fees") != fees.get(run_id):
                out.append(f"stake of run {run_id}: fees {rec.get('fees')}, its receipts give {fees.get(run_id)}")
            continue
        paid = runs[run_id].rewards if run_id in runs else None
        out += check_served(ledger, run_id, rec, fees.get(run_id, 0), paid)
    return out


def _on_chain(ledger: Ledger, e: Epoch) -> list[str]:
    c = commitment(e.record)
    try:
        found = ledger.get_run(e.epoch_id)
    except LedgerError as err:
        return [f"chain: {err}"]
    out = [f"chain {f}: {found[f]} on chain, the epoch's is {getattr(c, f)}"
           for f in ("rewards_root", "scores_hash", "manifest_hash") if found[f] != getattr(c, f)]  # fmt: skip
    pool = ledger.pool(e.epoch_id)
    if pool < e.record["total_fee"]:
        out.append(f"chain pool: {pool} tokens funded, the epoch's fees are {e.record['total_fee']}")
    return out
