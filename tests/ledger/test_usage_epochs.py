"""Usage epochs on the embedded chain and on anvil: `settle` turns the receipts a server stored into per-address
shares of their fees (the fee split, then each answer's contributor shares), publishes the root and funds it;
each address claims exactly its amount once with its proof; another address's proof, a second claim and an empty
epoch are refused; a settle stopped between its steps resumes without paying twice; `olab verify STORE` recomputes
an epoch from its receipts and names a changed receipt, share or record."""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from eth_account import Account
from hypothesis import given, settings
from hypothesis import strategies as st

from olab.cli import cli
from olab.errors import LedgerError, OlabError
from olab.ledger.accounts import dev_address
from olab.rewards import POOL_REMAINDER
from olab.serve import epochs, receipts
from olab.serve.store import ReceiptStore

SERVER = Account.from_key("0x" + "5e" * 32)
A, B, C, DEV, STAKERS = (dev_address(i) for i in range(1, 6))
SPLIT = {"developer": 0.1, "stakers": 0.2, "contributors": 0.7, "developer_address": DEV, "stakers_address": STAKERS}
# (fee, fee_split, shares_ppm) of five answers; what each address is owed, worked by hand, sums to the 10,000 fees
ANSWERS = [
    (4000, None, {A: 750_000, B: 250_000}),  # A 3000, B 1000
    (2000, SPLIT, {B: 500_000, C: 500_000}),  # DEV 200, STAKERS 400, B 700, C 700
    (3000, None, {}),  # no record helped this answer: its fee stays in the pool
    (1000, None, {A: 1_000_000}),  # A 1000
    (0, None, {C: 1_000_000}),  # a free answer pays nobody
]
OWED = {A: 4000, B: 1700, C: 700, DEV: 200, STAKERS: 400, POOL_REMAINDER: 3000}


def receipt(fee: int, split: dict | None, shares: dict[str, int], run_id: str = "0x" + "ab" * 32) -> dict:
    body = {"version": 1, "run_id": run_id, "fee": fee, "fee_split": split, "shares_ppm": shares, "records": [],
            "chain_id": 161201, "timestamp": 1_700_000_000, "nonce": "0x" + os.urandom(16).hex()}  # fmt: skip
    return receipts.sign(body, SERVER, 161201)


def store_with(path: Path, answers: list[tuple]) -> ReceiptStore:
    store = ReceiptStore(path)
    for a in answers:
        store.add(receipt(*a))
    return store


def test_settle_pays_each_address_its_exact_share_once(ledger, tmp_path: Path) -> None:
    store = store_with(tmp_path / "receipts.sqlite", ANSWERS)
    e = epochs.settle(store, ledger)
    assert e.number == 1 and e.record["total_fee"] == 10_000 and len(e.record["receipt_ids"]) == 5
    assert e.amounts() == OWED and ledger.pool(e.epoch_id) == 10_000
    assert ledger.get_run(e.epoch_id)["rewards_root"] == e.record["root"]
    for who in (A, B, DEV):
        before = ledger.token_balance(who)
        e.claim(who, ledger)
        assert ledger.token_balance(who) - before == OWED[who]
    with pytest.raises(LedgerError, match=r"claim\(epoch 1 0x[0-9a-f]{64}, .*share already claimed"):
        e.claim(A, ledger)
    with pytest.raises(OlabError, match=r"has no share in epoch 1 \(epoch id 0x.*only the 6 addresses its receipts"):
        e.claim(dev_address(9), ledger)
    b = e.rewards.share(B)
    with pytest.raises(LedgerError, match="invalid proof for this share"):  # C presents B's share and proof
        ledger.claim(e.epoch_id, C, b.share_ppm, b.proof)
    with pytest.raises(LedgerError, match="invalid proof for this share"):  # C's share with B's proof
        ledger.claim(e.epoch_id, C, e.rewards.share(C).share_ppm, b.proof)
    with pytest.raises(OlabError, match=r"nothing to settle: .* holds no receipt since epoch 1"):
        epochs.settle(store, ledger)  # the same receipts are never settled twice

    store.add(receipt(500, None, {C: 1_000_000}))
    second = epochs.settle(store, ledger)
    assert second.number == 2 and second.record["first_seq"] == 6 and second.amounts() == {C: 500}
    before = ledger.token_balance(C)
    e.claim(C, ledger)
    second.claim(C, ledger)  # one claim per epoch
    assert ledger.token_balance(C) - before == 700 + 500
    assert epochs.problems(store, 1, ledger) == [] and epochs.problems(store, 2, ledger) == []


def test_settle_refuses_an_empty_or_free_epoch(ledger, tmp_path: Path) -> None:
    store = ReceiptStore(tmp_path / "empty.sqlite")
    with pytest.raises(OlabError, match=r"nothing to settle: .* holds no receipt since the store was created"):
        epochs.settle(store, ledger)
    store.add(receipt(0, None, {A: 1_000_000}))
    with pytest.raises(OlabError, match=r"carry no fee \(start olab serve with --fee"):
        epochs.settle(store, ledger)
    assert store.epochs() == []


@pytest.mark.parametrize("stop_after", ["open", "publish", "fund"])
def test_a_stopped_settle_resumes_without_paying_twice(ledger, tmp_path: Path, stop_after: str) -> None:
    store = store_with(tmp_path / "receipts.sqlite", ANSWERS[:2])
    record = epochs.build(1, store.after(0))
    key = epochs.epoch_id(record)
    store.open_epoch(1, 1, 2, key, record)  # what settle writes before it sends anything
    if stop_after in ("publish", "fund"):
        ledger.publish_run(epochs.commitment(record))
    if stop_after == "fund":
        ledger.fund(key, record["total_fee"])
    e = epochs.settle(store, ledger)
    assert e.epoch_id == key and ledger.pool(key) == 6000 and store.epochs()[0]["chain"] is not None
    tx = e.chain["transactions"]
    assert tx["publish"]["already_recorded"] == (stop_after != "open")
    assert tx["fund"].get("already_recorded", False) == (stop_after == "fund")
    assert epochs.problems(store, 1, ledger) == []


def test_concurrent_settles_open_one_epoch_and_fund_it_once(ledger, tmp_path: Path) -> None:
    path = tmp_path / "receipts.sqlite"
    store_with(path, ANSWERS).close()
    outcomes: list[object] = []

    def settle_once() -> None:
        try:
            outcomes.append(epochs.settle(ReceiptStore(path), ledger).number)
        except OlabError as e:
            outcomes.append(str(e))

    threads = [threading.Thread(target=settle_once) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(map(str, outcomes))[0] == "1" and all("nothing to settle" in str(o) for o in outcomes if o != 1)
    (e,) = epochs.epochs(ReceiptStore(path))
    assert ledger.pool(e.epoch_id) == 10_000


def _tampered(src: Path, dst: Path, statement: str) -> Path:
    db, source = sqlite3.connect(dst), sqlite3.connect(src)
    source.backup(db)  # the WAL's pages included
    source.close()
    db.executescript("DROP TRIGGER receipts_no_update; DROP TRIGGER epochs_fixed; " + statement)
    db.close()
    return dst


def test_olab_verify_recomputes_epochs_and_names_the_changed_link(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "chain.yaml").write_text(yaml.safe_dump({"chain": {"state_dir": str(tmp_path / "chain")}}))
    store_with(tmp_path / "receipts.sqlite", ANSWERS).close()
    runner = CliRunner()
    settled = runner.invoke(cli, ["settle", "receipts.sqlite", "--config", "chain.yaml"])
    assert settled.exit_code == 0, settled.output
    assert (
        "epoch 1: 5 receipt(s), seq 1..5, fees 10,000" in settled.output
        and f"{A}  4,000 (400,000 ppm)" in settled.output
    )
    alone = runner.invoke(cli, ["settle", "receipts.sqlite", "--config", "chain.yaml", "--run", str(tmp_path)])
    assert "give --deposit-per-record UNITS with it" in str(alone.exception), alone.output
    claimed = runner.invoke(cli, ["claim", "receipts.sqlite", B])
    assert claimed.exit_code == 0 and f"paid 1700 tokens to {B}" in claimed.output, claimed.output
    again = runner.invoke(cli, ["claim", "receipts.sqlite", B, "--epoch", "1"])
    assert isinstance(again.exception, LedgerError) and "share already claimed" in str(again.exception)
    (tmp_path / "notes.txt").write_text("not a store")
    wrong = runner.invoke(cli, ["verify", "notes.txt"])
    assert "notes.txt is neither a run directory nor a receipt store" in str(wrong.exception)
    ok = runner.invoke(cli, ["verify", "receipts.sqlite"])
    assert ok.exit_code == 0 and "epoch 1 (5 receipts" in ok.output and "holds" in ok.output, ok.output

    _tampered(tmp_path / "receipts.sqlite", tmp_path / "fee.sqlite",
                    "UPDATE receipts SET receipt = replace(receipt, '\"fee\": 4000', '\"fee\": 4001') WHERE seq = 1")  # fmt: skip
    out = runner.invoke(cli, ["verify", "fee.sqlite"])
    assert out.exit_code == 1 and "receipt 0x" in out.output and "(seq 1): receipt_id: the body hashes to" in out.output
    assert "total_fee: the receipts give 10001, the epoch records 10000" in out.output

    forged = "0x" + "11" * 65
    _tampered(tmp_path / "receipts.sqlite", tmp_path / "signature.sqlite",
              f"UPDATE receipts SET receipt = json_set(receipt, '$.signature', '{forged}') WHERE seq = 2")  # fmt: skip
    out = runner.invoke(cli, ["verify", "signature.sqlite"])
    assert out.exit_code == 1 and "(seq 2): signature: it recovers to" in out.output, out.output
    assert "total_fee" not in out.output  # the body is intact: only the signature link breaks

    _tampered(tmp_path / "receipts.sqlite", tmp_path / "share.sqlite",
                      f"UPDATE epochs SET record = replace(record, '\"{C}\": 70000', '\"{C}\": 70001')")  # fmt: skip
    out = runner.invoke(cli, ["verify", "share.sqlite"])
    assert (
        out.exit_code == 1 and f"share of {C}: the receipts give 70000 ppm, the epoch records 70001 ppm" in out.output
    )
    assert "epoch id: the record hashes to" in out.output and "chain manifest_hash:" in out.output


DEPOSIT = 1_000  # tokens staked per record


def test_an_epoch_settles_the_stake_of_each_run_it_pays_for_once(ledger, tmp_path: Path) -> None:
    """The first epoch paying for a published, unsettled run slashes its harmful records' deposits by the run rule
    with the run's contributor fees in the epoch as the pool; a run settled before, or later again, loses nothing
    more; refusals: settling twice, slashing beyond a deposit, withdrawing stake still at risk."""
    from types import SimpleNamespace

    from olab.ledger import RunCommitment
    from olab.rewards import compute

    datanet = "served-" + os.urandom(4).hex()
    ledger.register_datanet(datanet)

    def published(influence: dict[str, list[float]]) -> tuple[str, SimpleNamespace]:
        paid, h = compute(influence), lambda: "sha256:" + os.urandom(32).hex()
        c = RunCommitment("0x" + os.urandom(32).hex(), h(), h(), h(), paid.root, h())
        ledger.publish_run(c)
        return c.run_id, SimpleNamespace(rewards=paid, manifest=SimpleNamespace(datanet=SimpleNamespace(name=datanet)))

    harmful, run = published({A: [3.0, 1.0], C: [-0.5, -20.0]})  # C's two records are harmful
    earlier, run_earlier = published({A: [1.0], C: [-1.0]})
    ledger.settle(earlier, datanet, {})  # settled at publish: an epoch leaves it alone
    for i, records in ((1, 2), (3, 2)):
        ledger.mint(dev_address(i), records * DEPOSIT)
        ledger.with_signer(i).stake(datanet, records * DEPOSIT, ledger.account)
    with pytest.raises(LedgerError, match="stake still at risk"):
        ledger.with_signer(3).withdraw(datanet, ledger.account)
    unknown = "0x" + os.urandom(32).hex()  # a run whose directory the settle is not given
    store = store_with(tmp_path / "receipts.sqlite", [
        (6000, SPLIT, {A: 1_000_000}, harmful), (3000, None, {A: 1_000_000}, harmful),  # contributors: 4200 + 3000
        (1000, None, {A: 1_000_000}, earlier), (500, None, {A: 1_000_000}, unknown),
    ])  # fmt: skip
    runs = {harmful: run, earlier: run_earlier}
    e = epochs.settle(store, ledger, runs, deposit_per_record=DEPOSIT)
    stake = e.chain["stake"]
    owed = run.rewards.slashes(7200, DEPOSIT)
    # C's -0.5 record: harm 0.5 / 4 (the positive influence) = 125,000 ppm of 7,200 tokens = 900; the -20 record owes
    # more than its deposit and loses all of it
    assert stake[harmful]["fees"] == 7200 and stake[harmful]["owed"] == owed == {C: 900 + DEPOSIT}
    assert stake[harmful]["slashed"] == owed and ledger.pool(harmful) == sum(owed.values())
    assert ledger.staked(datanet, C, ledger.account) == 2 * DEPOSIT - sum(owed.values())
    assert "settled_before" in stake[earlier] and ledger.slashed(earlier, C) == 0
    assert stake[unknown] == {"fees": 500, "not_settled": "its run directory was not given (olab settle --run RUN_DIR)"}
    assert epochs.problems(store, 1, ledger, runs) == []

    with pytest.raises(LedgerError, match="run already settled"):
        ledger.settle(harmful, datanet, {C: 1})
    store.add(receipt(9000, None, {A: 1_000_000}, harmful))
    second = epochs.settle(store, ledger, runs, deposit_per_record=DEPOSIT)
    assert second.chain["stake"][harmful]["settled_before"]["tx_hash"] == stake[harmful]["transactions"]["settle"]["tx_hash"]
    assert ledger.slashed(harmful, C) == sum(owed.values())  # the second epoch slashed nothing more
    assert epochs.problems(store, 2, ledger, runs) == []

    fresh, _ = published({A: [1.0], C: [-1.0]})
    with pytest.raises(LedgerError, match="slash beyond the deposit"):
        ledger.settle(fresh, datanet, {C: ledger.staked(datanet, C, ledger.account) + 1})
    before = ledger.token_balance(C)
    ledger.with_signer(3).withdraw(datanet, ledger.account)  # no longer at risk once a run settled after the deposit
    assert ledger.token_balance(C) - before == 2 * DEPOSIT - sum(owed.values())

    rec = e.chain | {"stake": stake | {harmful: stake[harmful] | {"slashed": {C: 1}}}}
    store.close_epoch(1, rec)
    assert any(f"{C}: slashed {sum(owed.values())} on chain, the epoch records 1" in p
               for p in epochs.problems(store, 1, ledger, runs))  # fmt: skip
    store.close_epoch(1, e.chain | {"stake": stake | {harmful: stake[harmful] | {"fees": 7201}}})
    assert any("stake settled on fees 7201, its receipts give 7200" in p for p in epochs.problems(store, 1, ledger, runs))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 10**9), st.sampled_from([None, SPLIT]),
                          st.lists(st.integers(1, 10**6), min_size=0, max_size=3)), min_size=1, max_size=6))  # fmt: skip
def test_the_rounding_rule_costs_each_address_under_one_ppm_of_the_fees_plus_one_unit(answers) -> None:
    """What the module docstring states: each address's claim is its exact fraction of the epoch's fees, less
    under fees / 1e6 + 1 token units, never more."""
    from fractions import Fraction

    rows = []
    for seq, (fee, split, weights) in enumerate(answers, 1):
        total = sum(weights) or 1
        shares = {who: w * 1_000_000 // total for who, w in zip((A, B, C), weights, strict=False)}
        rows.append((seq, receipt(fee, split, shares)))
    if sum(fee for fee, _, _ in answers) == 0:
        return
    record = epochs.build(1, rows)
    exact: dict[str, Fraction] = {}
    for _, r in rows:
        for who, amount in epochs.fee_shares(r).items():
            exact[who] = exact.get(who, Fraction(0)) + amount
    fees = record["total_fee"]
    paid = epochs.Epoch(1, epochs.epoch_id(record), record, None).amounts()
    for who, want in exact.items():
        if who != POOL_REMAINDER:
            assert 0 <= want - paid.get(who, 0) < Fraction(fees, 1_000_000) + 1, (who, want, paid.get(who))
    assert sum(paid.values()) <= fees
