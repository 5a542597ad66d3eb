"""Every contract function, and every refusal, on the embedded chain and on a real anvil node."""

from __future__ import annotations

import os

import pytest

from olab.errors import LedgerError
from olab.hashing import keccak
from olab.ledger import Ledger, RunCommitment
from olab.ledger.accounts import dev_address

OWNER, ALICE, BOB, CAROL = (dev_address(i) for i in (0, 6, 7, 8))


def rand32() -> str:
    return "0x" + os.urandom(32).hex()


def name() -> str:
    return "dn-" + os.urandom(4).hex()


# --- DatanetRegistry -----------------------------------------------------------------------------


def test_datanet_register_append_read_and_events(ledger):
    n, root, meta = name(), rand32(), "sha256:" + "ab" * 32
    r = ledger.register_datanet_version(n, 1, root, None, 120, 7, meta, "hf://agnews@v1")
    assert r.status == 1 and r.gas_used > 0 and not r.already_recorded and "registered datanet" in r.note
    v = ledger.datanet_version(n, 1)
    assert (v["root"], v["record_count"], v["contributor_count"], v["uri"]) == (root, 120, 7, "hf://agnews@v1")
    assert v["metadata_hash"] == "0x" + "ab" * 32 and v["parent_root"] == "0x" + "00" * 32
    assert v["appended_by"] == OWNER and ledger.datanet_owner(n) == OWNER
    r2 = ledger.register_datanet_version(n, 2, rand32(), root, 130, 8, None, "")
    assert r2.note is None  # registered already: one transaction
    reg = ledger.contract("DatanetRegistry")
    dn_id = Ledger.datanet_id(n, OWNER)
    assert reg.functions.idOf(OWNER, n).call() == dn_id
    assert reg.functions.versionCount(dn_id).call() == 2 and reg.functions.latestVersion(dn_id).call() == 2
    assert reg.functions.nameOf(dn_id).call() == n
    registered = reg.events.DatanetRegistered().get_logs(from_block=0, argument_filters={"datanetId": dn_id})
    appended = reg.events.VersionAppended().get_logs(from_block=0, argument_filters={"datanetId": dn_id})
    assert [e["args"]["owner"] for e in registered] == [OWNER]
    assert [e["args"]["version"] for e in appended] == [1, 2]
    assert appended[1]["args"]["parentRoot"] == bytes.fromhex(root[2:])


def test_datanet_version_is_idempotent_and_immutable(ledger):
    n, root = name(), rand32()
    first = ledger.register_datanet_version(n, 1, root, None, 10, 2, None, "u")
    again = ledger.register_datanet_version(n, 1, root, None, 10, 2, None, "u")
    assert again.already_recorded and again.tx_hash == first.tx_hash and again.block == first.block
    with pytest.raises(LedgerError, match=r"version 1 is already recorded .*record_count \(on chain 10, given 11\)"):
        ledger.register_datanet_version(n, 1, root, None, 11, 2, None, "u")
    # the contract itself refuses a rewrite and a version that does not increase
    fn = ledger.contract("DatanetRegistry").functions.appendVersion
    dn_id = Ledger.datanet_id(n, OWNER)
    with pytest.raises(LedgerError, match="version already recorded"):
        ledger.transact(fn(dn_id, 1, bytes.fromhex(rand32()[2:]), b"\0" * 32, 1, 1, b"\0" * 32, ""), "rewrite")
    ledger.register_datanet_version(n, 5, rand32(), root, 10, 2, None, "")
    with pytest.raises(LedgerError, match="version must be greater than the latest recorded version"):
        ledger.register_datanet_version(n, 3, rand32(), root, 10, 2, None, "")
    with pytest.raises(LedgerError, match="version root is empty"):
        ledger.transact(fn(dn_id, 9, b"\0" * 32, b"\0" * 32, 1, 1, b"\0" * 32, ""), "empty root")
    with pytest.raises(LedgerError, match="datanet already registered"):
        ledger.transact(ledger.contract("DatanetRegistry").functions.registerDatanet(n), "register again")


ALICE_IDX, BOB_IDX, CAROL_IDX = 6, 7, 8


def test_datanet_non_owner_append_refused_and_curators(ledger):
    n = name()
    ledger.register_datanet_version(n, 1, rand32(), None, 1, 1, None, "")
    alice = ledger.with_signer(ALICE_IDX)
    with pytest.raises(LedgerError, match="only the datanet owner or a curator may append versions"):
        alice.register_datanet_version(n, 2, rand32(), None, 1, 1, None, "", registrant=OWNER)
    with pytest.raises(LedgerError, match="only the datanet owner may set curators"):
        alice.set_curator(n, ALICE, registrant=OWNER)
    ledger.set_curator(n, ALICE)
    assert ledger.contract("DatanetRegistry").functions.isCurator(Ledger.datanet_id(n, OWNER), ALICE).call()
    r = alice.register_datanet_version(n, 2, rand32(), None, 1, 1, None, "", registrant=OWNER)
    assert r.status == 1 and ledger.datanet_version(n, 2)["appended_by"] == ALICE
    ledger.set_curator(n, ALICE, allowed=False)
    with pytest.raises(LedgerError, match="only the datanet owner or a curator"):
        alice.register_datanet_version(n, 3, rand32(), None, 1, 1, None, "", registrant=OWNER)
    with pytest.raises(LedgerError, match="datanet not registered"):
        ledger.transact(
            ledger.contract("DatanetRegistry").functions.appendVersion(
                keccak(b"never-registered-" + os.urandom(4)), 1, b"\1" * 32, b"\0" * 32, 1, 1, b"\0" * 32, ""
            ),
            "append to unknown",
        )


def test_a_name_is_bound_to_its_registrant_so_it_cannot_be_squatted(ledger):
    n, root = name(), rand32()
    squatter = ledger.with_signer(CAROL_IDX)
    squatter.register_datanet_version(n, 1, rand32(), None, 1, 1, None, "")  # registers the name first
    r = ledger.register_datanet_version(n, 1, root, None, 5, 2, None, "")  # the real owner is not blocked
    assert r.status == 1 and "registered datanet" in r.note
    assert ledger.datanet_owner(n) == OWNER and squatter.datanet_owner(n) == CAROL
    assert ledger.datanet_version(n, 1)["root"] == root
    assert ledger.datanet_version(n, 1, registrant=CAROL)["root"] != root
    assert Ledger.datanet_id(n, OWNER) != Ledger.datanet_id(n, CAROL)


def test_datanet_transfer_ownership(ledger):
    n = name()
    ledger.register_datanet_version(n, 1, rand32(), None, 1, 1, None, "")
    fns = ledger.contract("DatanetRegistry").functions
    dn_id = Ledger.datanet_id(n, OWNER)
    with pytest.raises(LedgerError, match="only the datanet owner may transfer it"):
        ledger.with_signer(BOB_IDX).transact(fns.transferOwnership(dn_id, BOB), "steal")
    ledger.transact(fns.transferOwnership(dn_id, BOB), "hand over")
    assert ledger.datanet_owner(n) == BOB
    ledger.with_signer(BOB_IDX).register_datanet_version(n, 2, rand32(), None, 1, 1, None, "", registrant=OWNER)
    with pytest.raises(LedgerError, match="only the datanet owner or a curator"):
        ledger.register_datanet_version(n, 3, rand32(), None, 1, 1, None, "")


def test_datanet_bad_input_is_refused_before_sending(ledger):
    with pytest.raises(LedgerError, match=r"root: expected a 32-byte hash"):
        ledger.register_datanet_version(name(), 1, "0x1234", None, 1, 1, None, "")
    with pytest.raises(LedgerError, match="name: expected a non-empty string of at most 64 bytes"):
        ledger.register_datanet_version("x" * 65, 1, rand32(), None, 1, 1, None, "")
    with pytest.raises(LedgerError, match="record_count must be a non-negative integer"):
        ledger.register_datanet_version(name(), 1, rand32(), None, -1, 1, None, "")


# --- AttributionRegistry -------------------------------------------------------------------------


def test_publish_read_verify(ledger, new_run):
    run = new_run()
    before = ledger.contract("AttributionRegistry").functions.runCount().call()
    r = ledger.publish_run(run.commitment)
    assert r.status == 1 and r.explorer_url is None and r.to_json()["tx_hash"] == r.tx_hash
    on_chain = ledger.get_run(run.run_id)
    assert {k: on_chain[k] for k in run.commitment.to_json()} == run.commitment.to_json()
    assert on_chain["publisher"] == OWNER and on_chain["block"] == r.block and on_chain["published_at"] > 0
    assert ledger.is_published(run.run_id)
    assert ledger.verify_run(run.commitment) == []
    assert ledger.contract("AttributionRegistry").functions.runCount().call() == before + 1
    other = RunCommitment(**{**run.commitment.to_json(), "scores_hash": rand32(), "manifest_hash": rand32()})
    problems = ledger.verify_run(other)
    assert [p.split(":")[0] for p in problems] == ["scores_hash", "manifest_hash"]
    assert other.scores_hash in problems[0] and on_chain["scores_hash"] in problems[0]
    missing = ledger.verify_run(new_run().commitment)
    assert len(missing) == 1 and "is not published" in missing[0]
    with pytest.raises(LedgerError, match="is not published"):
        ledger.get_run(rand32())
    events = (
        ledger.contract("AttributionRegistry")
        .events.RunPublished()
        .get_logs(from_block=r.block, to_block=r.block, argument_filters={"runId": bytes.fromhex(run.run_id[2:])})
    )
    assert len(events) == 1 and events[0]["args"]["rewardsRoot"] == run.tree.root


def test_second_publish_refused_and_publish_run_idempotent(ledger, new_run):
    run = new_run()
    first = ledger.publish_run(run.commitment)
    again = ledger.publish_run(run.commitment)
    assert again.already_recorded and again.tx_hash == first.tx_hash and again.gas_used == first.gas_used
    changed = RunCommitment(**{**run.commitment.to_json(), "rewards_root": rand32()})
    with pytest.raises(LedgerError, match=r"already published .* different values: rewards_root: on-chain"):
        ledger.publish_run(changed)
    b = changed.as_bytes()
    fn = ledger.contract("AttributionRegistry").functions.publishRun
    with pytest.raises(LedgerError, match="run already published"):
        ledger.transact(fn(*b.values()), "second publish")


def test_unauthorised_publish_refused_until_allowed(ledger, new_run):
    carol = ledger.with_signer(CAROL_IDX)
    run = new_run()
    with pytest.raises(LedgerError, match="caller is not an authorised publisher"):
        carol.publish_run(run.commitment)
    with pytest.raises(LedgerError, match="only the owner may set publishers"):
        carol.set_publisher(CAROL)
    fns = ledger.contract("AttributionRegistry").functions
    assert fns.isPublisher(OWNER).call() and not fns.isPublisher(CAROL).call()
    ledger.set_publisher(CAROL)
    assert fns.isPublisher(CAROL).call()
    assert carol.publish_run(run.commitment).status == 1
    assert ledger.get_run(run.run_id)["publisher"] == CAROL
    ledger.set_publisher(CAROL, allowed=False)
    with pytest.raises(LedgerError, match="caller is not an authorised publisher"):
        carol.publish_run(new_run().commitment)
    with pytest.raises(LedgerError, match="rewards root is empty"):
        ledger.transact(fns.publishRun(os.urandom(32), *([b"\1" * 32] * 3), b"\0" * 32, b"\1" * 32), "empty root")
    with pytest.raises(LedgerError, match="run id is empty"):
        ledger.transact(fns.publishRun(b"\0" * 32, *([b"\1" * 32] * 5)), "empty id")


def test_registry_ownership_transfer(ledger):
    fns = ledger.contract("AttributionRegistry").functions
    bob = ledger.with_signer(BOB_IDX)
    with pytest.raises(LedgerError, match="only the owner may transfer ownership"):
        bob.transact(fns.transferOwnership(BOB), "steal")
    ledger.transact(fns.transferOwnership(BOB), "hand over")
    try:
        assert fns.owner().call() == BOB
        with pytest.raises(LedgerError, match="only the owner may set publishers"):
            ledger.set_publisher(CAROL)
    finally:
        bob.transact(fns.transferOwnership(OWNER), "hand back")
    assert fns.owner().call() == OWNER


def test_verify_share_accepts_every_leaf_and_rejects_wrong_proofs(ledger, new_run):
    run = new_run(7, [300_000, 250_000, 150_000, 100_000, 100_000, 60_000, 40_000])
    ledger.publish_run(run.commitment)
    for i in range(len(run.values)):
        assert ledger.verify_share(run.run_id, *run.share(i))
    who, ppm, proof = run.share(2)
    assert not ledger.verify_share(run.run_id, who, ppm + 1, proof)  # inflated share
    assert not ledger.verify_share(run.run_id, OWNER, ppm, proof)  # someone else
    assert not ledger.verify_share(run.run_id, who, ppm, run.share(3)[2])  # another leaf's proof
    assert not ledger.verify_share(run.run_id, who, ppm, proof[:-1])  # truncated
    assert not ledger.verify_share(rand32(), who, ppm, proof)  # unknown run
    with pytest.raises(LedgerError, match=r"proof\[0\]: expected a 32-byte hash"):
        ledger.verify_share(run.run_id, who, ppm, ["0xnothex"])
    with pytest.raises(LedgerError, match="share_ppm: expected an integer number of parts per million"):
        ledger.verify_share(run.run_id, who, 1_000_001, proof)


def test_attest_once_per_reviewer(ledger, new_run):
    run = new_run()
    ledger.publish_run(run.commitment)
    alice, bob = ledger.with_signer(ALICE_IDX), ledger.with_signer(BOB_IDX)
    r = alice.attest(run.run_id, run.tree.root_hex, 0, 0.987654)
    assert r.status == 1
    with pytest.raises(LedgerError, match="reviewer already attested to this run"):
        alice.attest(run.run_id, run.tree.root_hex, 0, 1.0)
    other_root = rand32()
    bob.attest(run.run_id, other_root, 12_000, -0.25)
    got = ledger.attestations(run.run_id)
    assert [
        (a["reviewer"], a["rewards_root"], a["max_share_diff_ppm"], a["rank_corr"], a["matches_published"]) for a in got
    ] == [
        (ALICE, run.tree.root_hex, 0, 0.987654, True),
        (BOB, other_root, 12_000, -0.25, False),
    ]
    fns = ledger.contract("AttributionRegistry").functions
    rid = bytes.fromhex(run.run_id[2:])
    assert fns.attestationCount(rid).call() == 2 and fns.hasAttested(rid, ALICE).call()
    with pytest.raises(LedgerError, match="no attestation at this index"):
        ledger.chain.guard("getAttestation", fns.getAttestation(rid, 2).call)
    events = (
        ledger.contract("AttributionRegistry")
        .events.Attested()
        .get_logs(from_block=r.block, argument_filters={"runId": rid})
    )
    assert [e["args"]["matchesPublished"] for e in events] == [True, False]
    assert ledger.attestations(rand32()) == []


def test_attest_refusals(ledger, new_run):
    with pytest.raises(LedgerError, match="run not published"):
        ledger.attest(rand32(), rand32(), 0, 1.0)
    run = new_run()
    ledger.publish_run(run.commitment)
    with pytest.raises(LedgerError, match=r"rank_corr: expected a correlation in \[-1, 1\]"):
        ledger.attest(run.run_id, run.tree.root_hex, 0, 1.5)
    with pytest.raises(LedgerError, match="max_share_diff_ppm: expected an integer"):
        ledger.attest(run.run_id, run.tree.root_hex, -3, 1.0)
    fn = ledger.contract("AttributionRegistry").functions.attest
    rid, root = bytes.fromhex(run.run_id[2:]), run.tree.root
    reviewer = ledger.with_signer(BOB_IDX)  # not the publisher, so the contract's own range checks answer
    with pytest.raises(LedgerError, match=r"rankCorrPpm outside \[-1000000, 1000000\]"):
        reviewer.transact(fn(rid, root, 0, -1_000_001), "bad corr")
    with pytest.raises(LedgerError, match="maxShareDiffPpm above 1000000"):
        reviewer.transact(fn(rid, root, 1_000_001, 0), "bad diff")


# --- rewards: token and distributor --------------------------------------------------------------


def test_fund_and_claim_pays_the_contributor(ledger, new_run):
    run = new_run(3, [500_000, 300_000, 200_000])
    ledger.publish_run(run.commitment)
    pool = 7_000_003
    r = ledger.fund(run.run_id, pool)
    assert r.status == 1 and ledger.pool(run.run_id) == pool
    dist = ledger.contract("RewardDistributor")
    assert dist.functions.token().call() == ledger.addresses["TestToken"]
    assert dist.functions.registry().call() == ledger.addresses["AttributionRegistry"]
    assert ledger.token_balance(dist.address) >= pool
    who, ppm, proof = run.share(1)
    assert dist.functions.claimable(bytes.fromhex(run.run_id[2:]), who, ppm, proof).call() == ppm * pool // 10**6
    before = ledger.token_balance(who)
    carol = ledger.with_signer(CAROL_IDX)  # anyone may submit; the tokens go to the contributor
    carol_before = ledger.token_balance(CAROL)
    c = carol.claim(run.run_id, who, ppm, proof)
    assert c.status == 1 and f"paid {ppm * pool // 10**6} tokens to {who}" == c.note
    assert ledger.token_balance(who) - before == 300_000 * pool // 1_000_000
    assert ledger.token_balance(CAROL) == carol_before
    assert ledger.claimed(run.run_id, who) and not ledger.claimed(run.run_id, run.share(0)[0])
    assert dist.functions.claimCount(bytes.fromhex(run.run_id[2:])).call() == 1
    assert dist.functions.paidOut(bytes.fromhex(run.run_id[2:])).call() == 300_000 * pool // 1_000_000
    events = dist.events.Claimed().get_logs(from_block=c.block, to_block=c.block)
    assert [(e["args"]["contributor"], e["args"]["submittedBy"]) for e in events] == [(who, CAROL)]


def test_claim_refusals(ledger, new_run):
    run = new_run(3, [500_000, 300_000, 200_000])
    ledger.publish_run(run.commitment)
    who, ppm, proof = run.share(0)
    with pytest.raises(LedgerError, match="run has no funded pool"):
        ledger.claim(run.run_id, who, ppm, proof)
    with pytest.raises(LedgerError, match="run not published"):
        ledger.fund(rand32(), 10)
    ledger.fund(run.run_id, 1_000_000)
    with pytest.raises(LedgerError, match="invalid proof for this share"):
        ledger.claim(run.run_id, who, ppm + 1, proof)
    with pytest.raises(LedgerError, match="invalid proof for this share"):
        ledger.claim(run.run_id, who, ppm, run.share(1)[2])
    ledger.claim(run.run_id, who, ppm, proof)
    with pytest.raises(LedgerError, match="share already claimed"):
        ledger.claim(run.run_id, who, ppm, proof)
    with pytest.raises(LedgerError, match="pool is closed: claims have started"):
        ledger.fund(run.run_id, 5)
    fn = ledger.contract("RewardDistributor").functions
    with pytest.raises(LedgerError, match="amount is zero"):
        ledger.transact(fn.fund(bytes.fromhex(run.run_id[2:]), 0), "fund nothing")
    with pytest.raises(LedgerError, match="sharePpm above 1000000"):
        ledger.transact(fn.claim(bytes.fromhex(run.run_id[2:]), BOB, 1_000_001, []), "claim too much")


def test_token_transfers_and_refusals(ledger):
    token = ledger.contract("TestToken").functions
    assert (token.name().call(), token.symbol().call(), token.decimals().call()) == ("olab test token", "OLT", 18)
    assert token.owner().call() == OWNER
    alice, bob = ledger.with_signer(ALICE_IDX), ledger.with_signer(BOB_IDX)
    supply = token.totalSupply().call()
    ledger.mint(ALICE, 1000)
    assert token.totalSupply().call() == supply + 1000
    with pytest.raises(LedgerError, match="only the token owner may mint"):
        alice.mint(ALICE, 1)
    a0, b0 = ledger.token_balance(ALICE), ledger.token_balance(BOB)
    alice.transact(token.transfer(BOB, 400), "transfer")
    assert (ledger.token_balance(ALICE), ledger.token_balance(BOB)) == (a0 - 400, b0 + 400)
    with pytest.raises(LedgerError, match="insufficient balance"):
        alice.transact(token.transfer(BOB, a0 + 1), "overspend")
    with pytest.raises(LedgerError, match="insufficient allowance"):
        bob.transact(token.transferFrom(ALICE, BOB, 1), "unapproved")
    alice.transact(token.approve(BOB, 100), "approve")
    assert token.allowance(ALICE, BOB).call() == 100
    bob.transact(token.transferFrom(ALICE, CAROL, 60), "spend allowance")
    assert token.allowance(ALICE, BOB).call() == 40
    with pytest.raises(LedgerError, match=r"fund: 0x\w+ holds \d+ tokens but the pool needs"):
        bob.fund("0x" + "11" * 32, 10**30)


def test_a_zero_share_cannot_be_claimed_so_it_cannot_close_the_pool(ledger, new_run):
    run = new_run(3, [600_000, 400_000, 0])
    ledger.publish_run(run.commitment)
    ledger.fund(run.run_id, 1_000_000)
    who, ppm, proof = run.share(2)
    assert ppm == 0
    with pytest.raises(LedgerError, match="share is zero: nothing to claim"):
        ledger.claim(run.run_id, who, ppm, proof)
    assert not ledger.claimed(run.run_id, who)
    ledger.fund(run.run_id, 500_000)  # still open: nobody has claimed
    assert ledger.claim(run.run_id, *run.share(0)).status == 1


def test_the_publisher_cannot_attest_to_its_own_run(ledger, new_run):
    run = new_run()
    ledger.publish_run(run.commitment)
    with pytest.raises(LedgerError, match="the publisher cannot attest to its own run"):
        ledger.attest(run.run_id, run.tree.root_hex, 0, 1.0)
    assert ledger.attestations(run.run_id) == []
    ledger.with_signer(ALICE_IDX).attest(run.run_id, run.tree.root_hex, 0, 1.0)
    assert [a["reviewer"] for a in ledger.attestations(run.run_id)] == [ALICE]
