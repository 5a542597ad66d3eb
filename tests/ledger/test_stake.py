"""Stake and slashing on chain (StakeVault), on the embedded chain and on anvil: contributors stake behind
their records, settling a run slashes harmful records' deposits into the run's pool, claims and
withdrawals pay each address its net, and every refusal holds."""

from __future__ import annotations

import os

import pytest

from olab import rewards
from olab.errors import LedgerError
from olab.ledger import RunCommitment
from olab.ledger.accounts import dev_address

DEPOSIT = 1_000  # tokens staked per record
POOL = 1_000_000


def published_run(ledger, influence: dict[str, list[float]]) -> tuple[str, rewards.Rewards]:
    """A run paying `influence` per record under per_record, published by the ledger's signer."""
    r = rewards.compute(influence)
    h = lambda: "sha256:" + os.urandom(32).hex()  # noqa: E731
    c = RunCommitment("0x" + os.urandom(32).hex(), h(), h(), h(), r.root, h())
    ledger.publish_run(c)
    return c.run_id, r


def staked(ledger, datanet: str, records: dict[int, int], owner=None) -> None:
    """Dev account i stakes DEPOSIT per record in Datanet `datanet` of `owner` (default the ledger's signer),
    registered first; the ledger's signer (the deployer) mints the tokens."""
    owner = owner or ledger
    owner.register_datanet(datanet)
    for i, n in records.items():
        ledger.mint(dev_address(i), n * DEPOSIT)
        ledger.with_signer(i).stake(datanet, n * DEPOSIT, owner.account)


def test_settle_slashes_harm_into_the_pool_and_everyone_nets_their_share(ledger):
    datanet = "stake-" + os.urandom(4).hex()
    a, b, c = dev_address(1), dev_address(2), dev_address(3)
    # b's second record and c's only record are harmful; c's harm exceeds its deposit
    run_id, paid = published_run(ledger, {a: [3.0, 1.0], b: [2.0, -0.001], c: [-5.0]})
    staked(ledger, datanet, {1: 2, 2: 2, 3: 1})
    ledger.fund(run_id, POOL)
    slashes = paid.slashes(POOL, DEPOSIT)
    assert slashes == {b: 167, c: DEPOSIT}  # ceil(0.001/6 * 1e6 ppm * pool / 1e6) = 167; c loses its whole deposit
    with pytest.raises(LedgerError, match="stake still at risk"):
        ledger.with_signer(2).withdraw(datanet, ledger.account)
    with pytest.raises(LedgerError, match="only a publisher may settle"):
        ledger.with_signer(3).settle(run_id, datanet, {})
    with pytest.raises(LedgerError, match="slash beyond the deposit"):
        ledger.settle(run_id, datanet, {c: DEPOSIT + 1})
    with pytest.raises(LedgerError, match="run not published"):
        ledger.settle("0x" + os.urandom(32).hex(), datanet, slashes)
    ledger.settle(run_id, datanet, slashes)
    assert ledger.slashed(run_id, b) == 167 and ledger.slashed(run_id, c) == DEPOSIT
    assert ledger.pool(run_id) == POOL + 167 + DEPOSIT
    with pytest.raises(LedgerError, match="run already settled"):
        ledger.settle(run_id, datanet, {})
    for i, who in ((1, a), (2, b), (3, c)):
        before = ledger.token_balance(who)
        share = paid.share(who)
        if share.share_ppm:
            ledger.claim(run_id, who, share.share_ppm, share.proof)
        if ledger.staked(datanet, who, ledger.account):
            ledger.with_signer(i).withdraw(datanet, ledger.account)
        got = ledger.token_balance(who) - before
        stake = {1: 2, 2: 2, 3: 1}[i] * DEPOSIT
        assert got == share.share_ppm * ledger.pool(run_id) // 1_000_000 + stake - slashes.get(who, 0)
    assert ledger.staked(datanet, c, ledger.account) == 0
    with pytest.raises(LedgerError, match="nothing staked"):
        ledger.with_signer(3).withdraw(datanet, ledger.account)


def test_new_stake_is_at_risk_until_the_next_settlement(ledger):
    datanet = "stake-" + os.urandom(4).hex()
    run_id, _ = published_run(ledger, {dev_address(1): [1.0]})
    staked(ledger, datanet, {1: 1})
    ledger.settle(run_id, datanet, {})  # nothing to slash, no pool funding needed
    staked(ledger, datanet, {1: 1})  # a deposit after the settlement is at risk again
    with pytest.raises(LedgerError, match="stake still at risk"):
        ledger.with_signer(1).withdraw(datanet, ledger.account)
    later, _ = published_run(ledger, {dev_address(1): [1.0]})
    ledger.settle(later, datanet, {})
    before = ledger.token_balance(dev_address(1))
    ledger.with_signer(1).withdraw(datanet, ledger.account)
    assert ledger.token_balance(dev_address(1)) - before == 2 * DEPOSIT
    with pytest.raises(LedgerError, match="amount must be a positive integer"):
        ledger.stake(datanet, 0, ledger.account)


def test_stake_is_bound_to_the_registry_id_not_the_name(ledger):
    """Two Datanets of one name from different registrants have separate stake: settling one slashes nothing
    in the other, and only a Datanet's owner or curator (a publisher too) settles its stake. Staking behind an
    unregistered Datanet (where no settlement could ever free it) is refused."""
    name = "same-" + os.urandom(4).hex()
    other = ledger.with_signer(4)  # another publisher registering the same name
    ledger.set_publisher(other.account)
    assert ledger.datanet_id(name, ledger.account) != ledger.datanet_id(name, other.account)
    ledger.mint(dev_address(1), DEPOSIT)  # tokens in hand, whichever tests ran before on this chain
    with pytest.raises(LedgerError, match="datanet not registered"):
        ledger.with_signer(1).stake(name, DEPOSIT, ledger.account)
    staked(ledger, name, {1: 1})
    staked(ledger, name, {1: 2}, owner=other)
    a = dev_address(1)
    assert ledger.staked(name, a, ledger.account) == DEPOSIT and ledger.staked(name, a, other.account) == 2 * DEPOSIT
    run_id, _ = published_run(ledger, {a: [-1.0], dev_address(2): [1.0]})
    with pytest.raises(LedgerError, match="only the Datanet's owner or a curator may settle its stake"):
        other.settle(run_id, name, {a: DEPOSIT}, registrant=ledger.account)
    ledger.settle(run_id, name, {a: DEPOSIT})
    assert ledger.staked(name, a, ledger.account) == 0 and ledger.staked(name, a, other.account) == 2 * DEPOSIT
    with pytest.raises(LedgerError, match="stake still at risk"):  # the other Datanet has settled nothing yet
        ledger.with_signer(1).withdraw(name, other.account)
    other.set_curator(name, ledger.account)  # a curator who publishes may settle the other owner's stake
    later, _ = published_run(ledger, {a: [1.0]})
    ledger.settle(later, name, {}, registrant=other.account)
    before = ledger.token_balance(a)
    ledger.with_signer(1).withdraw(name, other.account)
    assert ledger.token_balance(a) - before == 2 * DEPOSIT


def test_publishing_settles_once_resumes_after_funding_and_verify_sees_every_change(ledger):
    """olab.ledger.settlement (what `olab run` does when rewards.stake is set): a contributor who never got
    gas or stake loses nothing, one who staked less than it owes loses all it staked; a publish interrupted
    after funding funds nothing more when it resumes; settling again sends nothing; check_settlement holds and
    names a forged slash, a changed rule and an unsettled run."""
    from eth_account import Account

    from olab.ledger.settlement import check_settlement, settle_run
    from olab.rewards import StakeConfig

    datanet = "settle-" + os.urandom(4).hex()
    me = ledger.account  # the publisher, who registers the Datanet
    fresh = Account.create()  # a contributor with no coin for gas: someone sends it some to stake
    a, b, c = dev_address(1), fresh.address, dev_address(3)
    run_id, paid = published_run(ledger, {a: [3.0, 1.0], b: [2.0, -0.5], c: [-5.0]})
    stake = StakeConfig(pool=POOL, deposit_per_record=10 * DEPOSIT)
    ledger.send_value(b, 10**17)
    ledger.mint(b, 300)
    ledger.register_datanet(datanet)
    ledger.with_signer(fresh).stake(datanet, 300, ledger.account)  # less than its harmful record owes
    owed = paid.slashes(POOL, 10 * DEPOSIT)
    assert owed[b] > 300 and c in owed  # c never staked

    ledger.fund(run_id, POOL // 4)  # an earlier publish funded part of the pool, then stopped
    first = settle_run(ledger, run_id, datanet, paid, stake)
    assert first["transactions"]["fund"] and not first["transactions"]["settle"]["already_recorded"]
    assert first["slashed"] == {b: 300} and first["owed"] == owed
    assert ledger.pool(run_id) == POOL + 300 and ledger.staked(datanet, b, ledger.account) == 0
    again = settle_run(ledger, run_id, datanet, paid, stake)
    assert "fund" not in again["transactions"] and again["transactions"]["settle"]["already_recorded"]
    assert again["transactions"]["settle"]["tx_hash"] == first["transactions"]["settle"]["tx_hash"]
    assert ledger.pool(run_id) == POOL + 300

    assert check_settlement(ledger, run_id, datanet, paid, stake, first, me) == []
    forged = {**first, "slashed": {b: 299}}
    assert any(
        "slashed 300 on chain, the manifest says 299" in p
        for p in check_settlement(ledger, run_id, datanet, paid, stake, forged, me)
    )
    wrong_tx = {**first, "transactions": {"settle": {**first["transactions"]["settle"], "tx_hash": "0x" + "ab" * 32}}}
    assert any(
        "the settlement's transaction is" in p
        for p in check_settlement(ledger, run_id, datanet, paid, stake, wrong_tx, me)
    )
    other = StakeConfig(pool=POOL, deposit_per_record=DEPOSIT)
    assert any("deposit_per_record" in p for p in check_settlement(ledger, run_id, datanet, paid, other, first, me))
    assert check_settlement(ledger, run_id, datanet, paid, stake, None, me) == [
        "rewards.stake is set but the manifest records no settlement of the run's stake"
    ]
    unsettled, paid2 = published_run(ledger, {a: [1.0]})
    assert any(
        "is not settled on chain" in p
        for p in check_settlement(ledger, unsettled, datanet, paid2, stake, {**first, "owed": {}, "slashed": {}}, me)
    )
    # a run settled against another Datanet of the publisher's: its slashes did not come from the run's Datanet
    elsewhere, paid3 = published_run(ledger, {a: [1.0]})
    ledger.register_datanet(datanet + "-other")
    ledger.settle(elsewhere, datanet + "-other", {})
    assert any(
        f"not that of {datanet!r} registered by {me}" in p
        for p in check_settlement(ledger, elsewhere, datanet, paid3, stake, {**first, "owed": {}, "slashed": {}}, me)
    )


def test_olab_stake_and_withdraw_on_the_command_line(tmp_path, monkeypatch):
    """`olab stake` / `olab withdraw` sign with the configured account (here the embedded chain's dev account 3),
    find a Datanet directory's owner on chain, and answer each refusal with one clear message."""
    import yaml
    from click.testing import CliRunner

    from olab.cli import cli
    from olab.datanet import Datanet
    from olab.ledger import ChainConfig, Ledger

    monkeypatch.chdir(tmp_path)
    state = str(tmp_path / "chain")
    for name, index in (("owner", 0), ("contributor", 3)):
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump({"chain": {"state_dir": state, "dev_account": index}}))
    owner = Ledger(ChainConfig(state_dir=state))
    me, runner = dev_address(3), CliRunner()

    def olab(*args: str, config: str = "contributor.yaml") -> tuple[str, str]:
        out = runner.invoke(cli, [*args, "--config", config])
        return out.output, str(out.exception or "")

    dn = Datanet.build({"name": "staked", "root_dir": str(tmp_path / "datanets"),
                        "source": {"kind": "synthetic", "n": 20, "seed": 0}}, progress=False)  # fmt: skip
    owner.mint(me, 500)
    _, err = olab("stake", "staked", "100", "--owner", owner.account)
    assert "datanet not registered" in err
    _, err = olab("stake", "staked", "100")
    assert "whose Datanet 'staked'? a name alone: give --owner ADDRESS" in err
    _, err = olab("stake", str(dn.path), "100")
    assert f"no version of {dn.path} is registered on chain" in err
    owner.register_datanet_version(name=dn.name, version=dn.version, root=dn.root, parent_root=None,
                                   record_count=len(dn.table), contributor_count=len(dn.contributors),
                                   metadata_hash=dn.metadata_hash, uri="")  # fmt: skip
    _, err = olab("stake", str(dn.path), "600")
    assert f"{me} holds 500 tokens but the stake needs 600" in err
    out, err = olab("stake", str(dn.path), "500")  # the directory's owner is found on chain
    assert f"staked 500 in Datanet 'staked' of {owner.account} from {me}" in out and "(now 500 at risk)" in out, err
    _, err = olab("withdraw", "staked", "--owner", owner.account)
    assert "stake still at risk" in err
    run_id, _ = published_run(owner, {me: [1.0]})
    owner.settle(run_id, "staked", {me: 120})
    out, err = olab("withdraw", str(dn.path))
    assert f"withdrew 380 from Datanet 'staked' of {owner.account} to {me}" in out, err
    assert owner.token_balance(me) == 380
    _, err = olab("withdraw", str(dn.path))
    assert "nothing staked" in err
    _, err = olab("stake", "staked", "5", "--owner", "nobody")
    assert "--owner 'nobody' is not an address" in err
    assert runner.invoke(cli, ["stake", "staked", "0"]).exit_code == 2  # AMOUNT must be at least 1
