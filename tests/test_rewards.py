"""Reward shares: exact ppm totals, the policy, the fee split, and the reward Merkle tree and file."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from fractions import Fraction
from pathlib import Path

import pandas as pd
import pytest
from eth_utils import to_checksum_address
from hypothesis import given, settings
from hypothesis import strategies as st

from olab import rewards
from olab.config import validate
from olab.errors import ConfigError, ValidationError, VerificationError
from olab.merkle import verify_leaf
from olab.rewards import PPM, RewardsConfig

ROOT = Path(__file__).resolve().parents[1]
NET = RewardsConfig(policy="positive_influence")  # the contributor-level policy these examples were written for


def addr(i: int) -> str:
    return to_checksum_address(f"0x{i:040x}")


influence_maps = st.dictionaries(
    st.integers(1, 2**40).map(addr),
    st.one_of(
        st.floats(-1e6, 1e6, allow_nan=False),
        st.just(0.0),
        st.floats(1e-300, 1e-250),
        st.floats(1e250, 1e300),
    ),
    min_size=1,
    max_size=25,
)


@settings(max_examples=150, deadline=None)
@given(influence_maps, st.randoms(use_true_random=False))
def test_shares_sum_exactly_and_follow_influence(influence, rnd):
    cfg = RewardsConfig(policy="positive_influence", if_all_zero="equal_split")
    r = rewards.compute(influence, cfg)
    got = r.as_dict()
    assert sum(got.values()) == PPM
    assert len(got) == len(influence)  # everyone listed, earning or not
    positive = {rewards._checksum(a, "a"): Fraction(v) for a, v in influence.items() if v > 0}
    total = sum(positive.values())
    for a, ppm in got.items():
        quota = Fraction(PPM, len(influence)) if total == 0 else positive.get(a, Fraction(0)) * PPM / total
        assert abs(ppm - quota) < 1  # largest remainder never moves a share by a whole unit
        if total and a not in positive:
            assert ppm == 0
    # every proof verifies against the root with OpenZeppelin's leaf encoding
    for s in r.shares:
        assert verify_leaf(r.root, ["address", "uint256"], [s.contributor, s.share_ppm], s.proof)
    # input order does not matter
    items = list(influence.items())
    rnd.shuffle(items)
    assert rewards.compute(dict(items), cfg).root == r.root


def test_zero_and_negative_influence_get_zero_but_are_listed():
    r = rewards.compute({addr(1): 3.0, addr(2): 0.0, addr(3): -5.0, addr(4): 1.0})
    assert r.as_dict() == {addr(1): 750_000, addr(4): 250_000, addr(2): 0, addr(3): 0}
    assert [s.contributor for s in r.ranked()] == [addr(1), addr(4), addr(2), addr(3)]
    assert r.shares == r.ranked()  # rewards.json lists shares largest first: the last ranks last


def test_ties_go_to_the_lower_address_whatever_the_input_order():
    names = [addr(0xBEEF), addr(0xCAFE), addr(0xABC)]
    for order in (names, names[::-1], [names[1], names[2], names[0]]):
        got = rewards.compute(dict.fromkeys(order, 2.5), NET).as_dict()
        assert got == {addr(0xABC): 333_334, addr(0xBEEF): 333_333, addr(0xCAFE): 333_333}


def test_contributor_table_and_policies():
    table = pd.DataFrame(
        {
            "contributor": [addr(1), addr(2), addr(3)],
            "positive": [4.0, 4.0, 2.0],
            "negative": [0.0, -4.0, -1.0],
            "total": [4.0, 0.0, 1.0],
        }
    )
    net = rewards.compute(table, NET)
    assert net.as_dict() == {addr(1): 800_000, addr(3): 200_000, addr(2): 0}
    assert net.policy == "positive_influence"
    pos = rewards.compute(table, RewardsConfig(policy="positive_records")).as_dict()
    assert pos == {addr(1): 400_000, addr(2): 400_000, addr(3): 200_000}
    with pytest.raises(ValidationError, match=r"lacks column\(s\) \['positive'\].*positive_records"):
        rewards.compute(table.drop(columns="positive"), RewardsConfig(policy="positive_records"))


def test_all_zero_influence_is_an_error_unless_equal_split_is_chosen():
    with pytest.raises(ValidationError, match="if_all_zero: equal_split"):
        rewards.compute({addr(1): 0.0, addr(2): -1.0})
    got = rewards.compute({addr(1): 0.0, addr(2): -1.0}, RewardsConfig(if_all_zero="equal_split")).as_dict()
    assert got == {addr(1): 500_000, addr(2): 500_000}


@pytest.mark.parametrize(
    ("influence", "message"),
    [
        ({"0x1234": 1.0}, "'0x1234' is not an EVM address"),
        ({addr(1): float("nan")}, f"influence of record {addr(1).lower()}#0 of contributor {addr(1)} is nan"),
        ({addr(1): "lots"}, "is 'lots', not a number"),
        ({}, "influence table is empty"),
    ],
)
def test_bad_influence_names_what_is_wrong(influence, message):
    with pytest.raises(ValidationError, match=message):
        rewards.compute(influence)


def test_duplicate_contributor_in_table_is_an_error():
    table = pd.DataFrame({"contributor": [addr(0xABC7), addr(0xABC7).lower()], "total": [1.0, 2.0]})
    with pytest.raises(ValidationError, match=f"{addr(0xABC7)} appears more than once"):
        rewards.compute(table, NET)


def test_fee_split_pays_developer_and_stakers_exactly():
    dev, pool = "0x" + "d" * 40, "0x" + "5" * 40
    cfg = validate(
        RewardsConfig,
        {
            "split": {
                "developer": 0.1,
                "stakers": 0.15,
                "contributors": 0.75,
                "developer_address": dev,
                "stakers_address": pool,
            }
        },
    )
    got = rewards.compute({addr(1): 1.0, addr(2): 2.0, addr(3): 0.0}, cfg).as_dict()
    assert got[cfg.split.developer_address] == 100_000
    assert got[cfg.split.stakers_address] == 150_000
    assert got[addr(1)] == 250_000 and got[addr(2)] == 500_000 and got[addr(3)] == 0
    assert sum(got.values()) == PPM


def test_developer_who_also_contributed_gets_one_leaf():
    cfg = RewardsConfig(split={"developer": 0.2, "contributors": 0.8, "developer_address": addr(1)})
    got = rewards.compute({addr(1): 1.0, addr(2): 1.0}, cfg).as_dict()
    assert got == {addr(1): 600_000, addr(2): 400_000}


@pytest.mark.parametrize(
    ("split", "message"),
    [
        (
            {
                "developer": 0.2,
                "stakers": 0.2,
                "contributors": 0.5,
                "developer_address": addr(1),
                "stakers_address": addr(2),
            },
            "must sum to 1, got 0.2 \\+ 0.2 \\+ 0.5 = 0.9",
        ),
        ({"developer": 0.1, "contributors": 0.9}, "developer_address is required when developer > 0"),
        (
            {"stakers": 0.1, "contributors": 0.9, "stakers_address": "0xnothex"},
            "split.stakers_address.*not an EVM address",
        ),
        ({"developer": 1.0, "contributors": 0.0, "developer_address": addr(1)}, "split.contributors"),
        ({"developer": -0.1, "contributors": 1.1}, "split.developer"),
        ({"contributors": 1.0, "treasury": 0.0}, "split.treasury: unknown key"),
    ],
)
def test_fee_split_validation_names_the_field(split, message):
    with pytest.raises(ConfigError, match=message):
        validate(RewardsConfig, {"split": split}, source="rewards")


def test_min_share_ppm_drops_dust_and_shares_it_among_the_rest():
    influence = {addr(1): 1000.0, addr(2): 999.0, addr(3): 1.0}  # addr(3) would get 500 ppm
    assert rewards.compute(influence, NET).as_dict()[addr(3)] == 500
    got = rewards.compute(influence, RewardsConfig(policy="positive_influence", min_share_ppm=501)).as_dict()
    assert got[addr(3)] == 0 and sum(got.values()) == PPM
    assert got[addr(1)] == 500_250 and got[addr(2)] == 499_750
    with pytest.raises(ConfigError, match="min_share_ppm=600000 is above every contributor's share"):
        rewards.compute(influence, RewardsConfig(policy="positive_influence", min_share_ppm=600_000))


def test_write_load_and_verify_file(tmp_path):
    r = rewards.compute({addr(i): float(i) for i in range(1, 8)}, NET)
    r.names = {addr(i): f"contributor {i}" for i in range(1, 8)}
    path = r.write(tmp_path / "rewards.json", run_id="run-123")
    data = json.loads(path.read_text())
    assert list(data) == ["run_id", "root", "leaf_encoding", "policy", "shares", "names", "harm_ppm"]
    assert data["leaf_encoding"] == ["address", "uint256"] and data["root"] == r.root
    assert data["names"] == {s.contributor: f"contributor {int(s.contributor[-1])}" for s in r.shares}
    assert rewards.verify_file(path) == []
    again = rewards.Rewards.open(path)
    assert again.run_id == "run-123" and again.root == r.root and again.shares == r.shares and again.names == r.names
    unnamed = rewards.compute({addr(1): 1.0}, None)  # names are metadata: the root does not depend on them
    named = rewards.compute({addr(1): 1.0}, None)
    named.names = {addr(1): "alice"}
    assert named.to_json("r")["root"] == unnamed.to_json("r")["root"]
    assert not list(tmp_path.glob(".*tmp"))  # no temp file left behind


def test_a_tampered_share_fails_verification_naming_the_contributor(tmp_path):
    r = rewards.compute({addr(i): float(i) for i in range(1, 6)})
    path = r.write(tmp_path / "rewards.json", run_id="run")
    data = json.loads(path.read_text())
    victim = data["shares"][2]["contributor"]
    data["shares"][2]["share_ppm"] += 1000
    data["shares"][0]["share_ppm"] -= 1000  # keep the sum right: only the proofs can tell
    thief = data["shares"][0]["contributor"]
    path.write_text(json.dumps(data))
    problems = rewards.verify_file(path)
    assert any(victim in p and "does not verify" in p for p in problems)
    assert any(thief in p for p in problems)
    assert any("is not the Merkle root" in p for p in problems)
    with pytest.raises(VerificationError, match=victim):
        rewards.Rewards.open(path)


def test_verify_file_catches_a_wrong_sum_and_a_wrong_root(tmp_path):
    r = rewards.compute({addr(1): 1.0, addr(2): 1.0})
    path = r.write(tmp_path / "rewards.json", run_id="run")
    data = json.loads(path.read_text())
    data["root"] = "0x" + "ab" * 32
    path.write_text(json.dumps(data))
    problems = rewards.verify_file(path)
    assert any(f"root {data['root']} is not the Merkle root" in p for p in problems)
    assert sum("does not verify" in p for p in problems) == 2
    data["root"] = r.root
    del data["shares"][1]
    path.write_text(json.dumps(data))
    assert any("sum to 500000 ppm, expected exactly 1000000" in p for p in rewards.verify_file(path))
    assert rewards.verify_file(tmp_path / "missing.json") == [f"{tmp_path / 'missing.json'} does not exist"]


def test_share_lookup_and_diff():
    a = rewards.compute({addr(1): 1.0, addr(2): 3.0}, NET)
    b = rewards.compute({addr(1): 1.0, addr(2): 2.9, addr(3): 0.1}, NET)
    assert rewards.share_diff_ppm(a, a) == 0
    assert rewards.share_diff_ppm(a, b) == 25_000  # addr(2): 750000 -> 725000
    assert rewards.share_diff_ppm(a.as_dict(), {addr(1): 250_000}) == 750_000  # missing counts as 0
    s = a.share(addr(2).lower())
    assert (s.share_ppm, s.proof) == (750_000, a.shares[0].proof)
    with pytest.raises(ValidationError, match=f"{addr(9)} has no share"):
        a.share(addr(9))


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_openzeppelin_js_builds_the_same_root_and_accepts_our_proofs():
    rnd = random.Random(7)
    r = rewards.compute({addr(rnd.getrandbits(160)): rnd.random() for _ in range(9)})
    values = [[s.contributor, str(s.share_ppm)] for s in r.shares]
    script = """
    const { StandardMerkleTree } = require('@openzeppelin/merkle-tree');
    const [values, proofs] = JSON.parse(require('fs').readFileSync(0, 'utf8'));
    const tree = StandardMerkleTree.of(values, ['address', 'uint256']);
    const ok = values.map((v, i) => StandardMerkleTree.verify(tree.root, ['address', 'uint256'], v, proofs[i]));
    console.log(JSON.stringify({ root: tree.root, ok }));
    """
    out = subprocess.run(
        ["node", "-e", script],
        input=json.dumps([values, [s.proof for s in r.shares]]),
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    got = json.loads(out.stdout)
    assert got["root"] == r.root
    assert got["ok"] == [True] * len(values)


def test_rank_follows_the_ranked_order():
    r = rewards.compute({addr(1): 1.0, addr(2): 3.0, addr(3): 2.0})
    assert [r.rank(addr(i)) for i in (1, 2, 3)] == [3, 1, 2]
    with pytest.raises(ValidationError, match="has no share in the reward tree"):
        r.rank(addr(9))
