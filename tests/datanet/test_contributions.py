"""Signed contributions: accepted into a new version, forged and replayed batches rejected with a clear reason,
the review policy, and diffs between versions."""

from __future__ import annotations

import dataclasses

import pytest

from olab.datanet import Datanet, SignedBatch, sign_batch, signature_problem
from olab.errors import DatanetError

RECORDS = [
    {"text": "Robotics startup unveils a warehouse picking arm", "label": "Sci/Tech"},
    {"text": "Harbour city hosts the sailing championship", "label": "Sports"},
]
MORE = [{"text": "Central bank holds rates steady for a third month", "label": "Business"}]


def test_signed_batch_is_accepted_into_a_new_version(small: Datanet, signers):
    before_root, before_count = small.root, len(small)
    batch = sign_batch(signers[0], small, RECORDS, nonce=1)
    assert signature_problem(batch, small.signing_domain) is None
    result = small.submit(batch)
    assert result.ok and result.version == 2 and small.version == 2 and result.contributor == signers[0].address
    assert len(small) == before_count + 2 and small.root != before_root
    assert small.manifest["parent_root"] == before_root and small.manifest["parent_version"] == 1
    assert small.manifest["change"]["batch_id"] == batch.batch_id
    entry = next(c for c in small.contributors if c["address"] == signers[0].address)
    assert entry["records"] == 2 and entry["behaviour"] is None
    for rid in result.accepted:
        proof = small.proof(rid)
        assert proof["contributor"] == signers[0].address and Datanet.verify_proof(proof, root=small.root)
    small.verify()
    assert Datanet.open(small.path, version=1).root == before_root  # the old version is untouched
    Datanet.open(small.path, version=1).verify()


def test_forged_signature_is_rejected_with_the_recovered_signer(small: Datanet, signers):
    real = sign_batch(signers[1], small, RECORDS, nonce=1)
    forged = dataclasses.replace(real, contributor=signers[0].address)
    result = small.submit(forged)
    assert result.status == "rejected" and small.versions == [1]
    assert (
        f"bad signature: it recovers {signers[1].address}, not the claimed contributor {signers[0].address}"
        in result.reason
    )


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"records": [{**RECORDS[0], "label": "World"}, RECORDS[1]]}, "bad signature: it recovers"),
        ({"nonce": 2}, "bad signature: it recovers"),
        ({"signature": "0x1234"}, "not a valid 65-byte signature"),
        ({"datanet": "other"}, "batch is signed for Datanet 'other', not 'small'"),
        ({"chain_id": 1}, "signed for chain id 1, but this Datanet's chain id is 161201"),
        ({"contributor": "alice"}, "claimed contributor 'alice' is not an address"),
        ({"genesis_root": "0x" + "11" * 32}, "batch is signed for another Datanet named 'small'"),
    ],
)
def test_tampered_batches_are_rejected(small: Datanet, signers, change, reason):
    batch = dataclasses.replace(sign_batch(signers[0], small, RECORDS, nonce=1), **change)
    result = small.submit(batch)
    assert result.status == "rejected" and reason in result.reason and small.versions == [1]
    assert any(n.startswith("unverified-") for n in small.storage.list("submissions"))


def test_signature_for_another_chain_does_not_verify_here(small: Datanet, signers):
    """The domain binds the chain: a batch signed for chain 1 and relabelled 161201 fails recovery."""
    other_chain = sign_batch(signers[0], {**small.signing_domain, "chain_id": 1}, RECORDS, nonce=1)
    assert "bad signature" in small.submit(dataclasses.replace(other_chain, chain_id=161201)).reason


def test_replays_are_rejected_with_a_clear_reason(small: Datanet, signers):
    batch = sign_batch(signers[0], small, RECORDS, nonce=7)
    assert small.submit(batch).ok
    again = small.submit(batch)
    assert again.status == "rejected" and again.reason.startswith(
        f"replayed batch: batch {batch.batch_id} was already submitted (status: accepted in version 2)"
    )
    from_json = small.submit(SignedBatch.from_json(batch.to_json()))
    assert from_json.status == "rejected" and "replayed batch" in from_json.reason
    same_nonce = small.submit(sign_batch(signers[0], small, MORE, nonce=7))
    assert same_nonce.reason.startswith(f"replayed nonce: {signers[0].address} already used nonce 7")
    same_records = small.submit(sign_batch(signers[0], small, RECORDS, nonce=8))
    assert same_records.reason.startswith(
        f"replayed batch: these records from {signers[0].address} were already applied"
    )
    assert small.versions == [1, 2]
    # another contributor may use the same nonce
    assert small.submit(sign_batch(signers[1], small, MORE, nonce=7)).ok


def test_a_forgery_does_not_block_the_genuine_batch(small: Datanet, signers):
    genuine = sign_batch(signers[0], small, RECORDS, nonce=1)
    forged = dataclasses.replace(genuine, signature=sign_batch(signers[2], small, RECORDS, nonce=1).signature)
    assert small.submit(forged).status == "rejected"
    assert small.submit(genuine).ok


def test_review_policy_holds_then_approves_or_rejects(review: Datanet, signers):
    a = sign_batch(signers[0], review, RECORDS, nonce=1)
    b = sign_batch(signers[1], review, MORE, nonce=1)
    held = review.submit(a)
    assert held.status == "pending" and held.version is None and review.versions == [1]
    assert review.submit(b).status == "pending"
    assert [p["batch_id"] for p in review.pending()] == [a.batch_id, b.batch_id]
    assert review.submit(a).reason.startswith("replayed batch")
    approved = review.approve(a.batch_id)
    assert approved.ok and approved.version == 2 and review.version == 2 and len(approved.accepted) == 2
    refused = review.reject(b.batch_id, "off-topic for this Datanet")
    assert refused.status == "rejected" and refused.reason == "rejected by the owner: off-topic for this Datanet"
    assert review.versions == [1, 2] and review.pending() == []
    with pytest.raises(DatanetError, match="is not pending \\(status: accepted\\)"):
        review.approve(a.batch_id)
    with pytest.raises(DatanetError, match="has no submitted batch 0xdead"):
        review.approve("0xdead")


def test_diff_lists_added_and_rejected_records_by_contributor(small: Datanet, signers):
    first = small.submit(sign_batch(signers[0], small, [*RECORDS, {"text": "", "label": "World"}], nonce=1))
    small.submit(sign_batch(signers[1], small, [{"text": "x", "label": "Nope"}], nonce=1))  # all invalid
    small.submit(sign_batch(signers[1], small, MORE, nonce=2))
    d = small.diff(1)
    assert d["from"] == 1 and d["to"] == 3 and d["removed"] == {}
    assert d["added"] == {signers[0].address: first.accepted, signers[1].address: ["r000062"]}
    assert [r["rule"] for r in d["rejected"][signers[0].address]] == ["empty_text"]
    assert [r["rule"] for r in d["rejected"][signers[1].address]] == ["unknown_label"]
    assert small.diff(2, 3)["added"] == {signers[1].address: ["r000062"]}
    assert signers[0].address not in small.diff(2, 3)["rejected"]
    with pytest.raises(DatanetError, match="earlier version first"):
        small.diff(3, 1)


def test_batches_travel_as_json(small: Datanet, signers):
    import json

    from olab.errors import ValidationError

    batch = sign_batch(signers[0], small, RECORDS, nonce=3)
    assert small.submit(json.loads(json.dumps(batch.to_json()))).ok
    with pytest.raises(ValidationError, match=r"needs the keys \['signature'\]"):
        SignedBatch.from_json({k: v for k, v in batch.to_json().items() if k != "signature"})


def test_a_batch_with_non_json_records_is_rejected_not_crashed(small: Datanet, signers):
    batch = sign_batch(signers[0], small, RECORDS, nonce=4)
    broken = dataclasses.replace(batch, records=[{"text": b"bytes are not JSON", "label": "World"}])
    result = small.submit(broken)
    assert result.status == "rejected" and result.reason.startswith(
        "malformed batch: a batch's records must be JSON values"
    )
    assert small.versions == [1] and small.submit(batch).ok


def test_a_batch_for_one_datanet_is_refused_by_another_with_the_same_name(tmp_path, make_config, signers):
    mine = Datanet.build(make_config(tmp_path / "mine"), progress=False)
    theirs = Datanet.build(make_config(tmp_path / "theirs", source={"seed": 2}), progress=False)
    assert mine.name == theirs.name and mine.genesis_root != theirs.genesis_root
    batch = sign_batch(signers[0], mine, RECORDS, nonce=1)
    result = theirs.submit(batch)
    assert result.status == "rejected" and "signed for another Datanet named 'small'" in result.reason
    assert theirs.versions == [1] and mine.submit(batch).ok
    assert mine.genesis_root == Datanet.open(mine.path, version=1).root  # stays the genesis root in version 2


def test_a_mischecksummed_claimed_contributor_is_refused_not_rechecksummed(small: Datanet, signers):
    batch = sign_batch(signers[0], small, RECORDS, nonce=1)
    wrong = batch.contributor[:2] + batch.contributor[2:].swapcase()
    result = small.submit(dataclasses.replace(batch, contributor=wrong))
    assert result.status == "rejected" and "is not an address" in result.reason and small.versions == [1]


def test_a_rebuilt_version_registers_the_same_metadata_hash(tmp_path, make_config):
    import shutil
    import time

    from olab.hashing import hash_json

    first = Datanet.build(make_config(tmp_path), progress=False)
    shutil.rmtree(first.path)
    time.sleep(1.1)  # `created` has one-second resolution
    again = Datanet.build(make_config(tmp_path), progress=False)
    assert again.manifest["created"] != first.manifest["created"]
    assert hash_json(again.manifest) != hash_json(first.manifest)
    assert again.metadata_hash == first.metadata_hash


@pytest.mark.parametrize(
    ("bad", "expected"),
    [
        (42, "not a int"),
        (None, "not a NoneType"),
        ("x", "not a str"),
        ({"x": 1}, "needs the keys"),
        (
            {
                "datanet": "small",
                "chain_id": 1,
                "genesis_root": "0x" + "00" * 32,
                "contributor": "0x" + "11" * 20,
                "nonce": 1,
                "records": 5,
                "signature": "0x",
            },
            "records must be a list, got int",
        ),
    ],
)
def test_submit_with_a_bad_argument_is_one_validation_error(small: Datanet, bad, expected):
    from olab.errors import ValidationError

    with pytest.raises(ValidationError, match=expected):
        small.submit(bad)
    assert small.versions == [1]
