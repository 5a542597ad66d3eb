"""The per_record policy: payouts additive over records, so splitting an identity or adding a helpful
record cannot be gamed; property tests on random influence tables, plus the file round trip."""

from __future__ import annotations

import json
from fractions import Fraction
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from eth_utils import to_checksum_address
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from olab import rewards
from olab.attribution import Attribution
from olab.errors import OlabError, ValidationError
from olab.merkle import verify_leaf
from olab.rewards import POOL_REMAINDER, PPM, RewardsConfig


def addr(i: int) -> str:
    return to_checksum_address(f"0x{i:040x}")


influences = st.one_of(st.floats(-1e3, 1e3, allow_nan=False), st.just(0.0), st.floats(1e-9, 1e-6))
# records as (contributor number 1..6, influence)
tables = st.lists(st.tuples(st.integers(1, 6), influences), min_size=1, max_size=40)


def frame(records: list[tuple[str, float]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "record_id": [f"r{i}" for i in range(len(records))],
            "contributor": [a for a, _ in records],
            "influence": [v for _, v in records],
        }
    )


def payouts(records: list[tuple[str, float]]) -> tuple[dict[str, int], dict[str, int], rewards.Rewards]:
    r = rewards.compute(frame(records))
    return r.as_dict(), r.net_ppm(), r


def helpful(records: list[tuple[int, float]]) -> bool:
    return any(v > 0 for _, v in records)


@settings(max_examples=200, deadline=None)
@given(tables, st.integers(1, 6), st.data())
def test_splitting_a_contributor_over_many_addresses_never_raises_their_payout(table, who, data):
    assume(helpful(table))
    records = [(addr(c), v) for c, v in table]
    share, net, r = payouts(records)
    # move each of `who`'s records to one of up to 5 fresh addresses
    k = data.draw(st.integers(1, 5), label="addresses")
    picks = data.draw(st.lists(st.integers(0, k - 1), min_size=len(table), max_size=len(table)), label="picks")
    fresh = [addr(0x1000 + j) for j in range(k)]
    split = [(fresh[p] if c == who else addr(c), v) for (c, v), p in zip(table, picks, strict=True)]
    share2, net2, r2 = payouts(split)
    mine = [a for a in fresh if a in share2]
    if addr(who) in share:
        assert sum(share2[a] for a in mine) <= share[addr(who)]
        assert sum(net2[a] for a in mine) <= net[addr(who)]
        assert sum(r2.harm_ppm(a) for a in mine) == r.harm_ppm(addr(who))  # harm is per record: splitting keeps it
    for c in {c for c, _ in table if c != who}:  # everyone else is paid exactly as before
        assert share2[addr(c)] == share[addr(c)]


@settings(max_examples=200, deadline=None)
@given(tables, st.integers(1, 6), st.floats(1e-6, 1e3))
def test_adding_a_helpful_record_never_lowers_a_payout(table, who, value):
    assume(helpful(table))  # with no helpful record there is no pool to be paid from (an error)
    records = [(addr(c), v) for c, v in table]
    before_share, before_net, _ = payouts(records)
    after_share, after_net, _ = payouts([*records, (addr(who), value)])
    assert after_share[addr(who)] >= before_share.get(addr(who), 0)
    assert after_net[addr(who)] >= before_net.get(addr(who), 0)


@settings(max_examples=200, deadline=None)
@given(tables)
def test_shares_sum_exactly_and_every_proof_verifies(table):
    assume(helpful(table))
    share, _, r = payouts([(addr(c), v) for c, v in table])
    assert sum(share.values()) == PPM
    assert share.get(POOL_REMAINDER, 0) < len({c for c, _ in table})  # under one unit per contributor stays in the pool
    for s in r.shares:
        assert verify_leaf(r.root, ["address", "uint256"], [s.contributor, s.share_ppm], s.proof)
    exact = [(c, Fraction(v)) for c, v in table]
    positive = sum(max(v, 0) for _, v in exact)
    for c in {c for c, _ in table}:
        mine = [v for d, v in exact if d == c]
        exact_share = PPM * sum(max(v, 0) for v in mine) / positive
        assert exact_share - 1 < share[addr(c)] <= exact_share
        exact_harm = PPM * sum(max(-v, 0) for v in mine) / positive
        assert exact_harm <= r.harm_ppm(addr(c)) < exact_harm + len(mine)


def test_moving_harmful_records_to_a_second_address_pays_under_net_policies_but_not_per_record():
    # the example: max(0, a) + max(0, b) >= max(0, a + b)
    together = {addr(1): [5.0, -3.0], addr(2): [4.0]}
    apart = {addr(1): [5.0], addr(3): [-3.0], addr(2): [4.0]}
    net = RewardsConfig(policy="positive_influence")
    flat = {a: sum(v) for a, v in together.items()}
    flat_apart = {a: sum(v) for a, v in apart.items()}
    assert rewards.compute(flat_apart, net).as_dict()[addr(1)] > rewards.compute(flat, net).as_dict()[addr(1)]
    one, two = rewards.compute(together), rewards.compute(apart)
    assert one.net_ppm()[addr(1)] == two.net_ppm()[addr(1)] + two.net_ppm()[addr(3)]
    assert one.as_dict() == {addr(1): 555_555, addr(2): 444_444, POOL_REMAINDER: 1}
    assert one.harm == {addr(1): {f"{addr(1).lower()}#1": 333_334}}  # 3/9 of the pool, rounded up


def test_file_round_trip_keeps_harm_and_verify_catches_bad_harm(tmp_path):
    r = rewards.compute(frame([(addr(1), 2.0), (addr(2), -1.0), (addr(2), 1.0)]))
    path = r.write(tmp_path / "rewards.json", run_id="run")
    again = rewards.Rewards.open(path)
    assert again.harm == r.harm == {addr(2): {"r1": 333_334}} and again.root == r.root
    data = json.loads(path.read_text())
    data["harm_ppm"][addr(9)] = {"r9": 5}
    data["harm_ppm"][addr(2)]["r1"] = -1
    path.write_text(json.dumps(data))
    problems = rewards.verify_file(path)
    assert any(addr(9) in p and "no share" in p for p in problems)
    assert any(f"harm_ppm of {addr(2)}" in p for p in problems)


def test_record_tables_are_checked_and_aggregated_for_contributor_policies():
    table = frame([(addr(1), 3.0), (addr(1), -1.0), (addr(2), 2.0)])
    assert rewards.compute(table, RewardsConfig(policy="positive_influence")).as_dict() == {
        addr(1): 500_000,
        addr(2): 500_000,
    }
    with pytest.raises(ValidationError, match="per_record' needs one row per training record"):
        rewards.compute(pd.DataFrame({"contributor": [addr(1)], "total": [1.0]}))
    with pytest.raises(ValidationError, match="record r0 appears more than once"):
        rewards.compute(table.assign(record_id="r0"))
    with pytest.raises(ValidationError, match="if_all_zero: equal_split"):
        rewards.compute({addr(1): [-1.0, 0.0]})


def test_fee_split_and_dust_stay_exact_under_per_record():
    cfg = RewardsConfig(split={"developer": 0.25, "contributors": 0.75, "developer_address": addr(7)})
    got = rewards.compute({addr(1): [1.0, -0.5], addr(2): [2.0]}, cfg)
    assert got.as_dict() == {addr(7): 250_000, addr(2): 500_000, addr(1): 250_000}
    assert got.harm_ppm(addr(1)) == 125_000  # harm in the same units as the contributors' part of the pool
    dust = rewards.compute({addr(1): [1000.0], addr(2): [1.0]}, RewardsConfig(min_share_ppm=1000)).as_dict()
    # 999.000999 ppm of dust is not redistributed (that would reward splitting): it and the rounding stay in the pool
    assert dust[addr(2)] == 0 and dust[addr(1)] == 999_000 and dust[POOL_REMAINDER] == 1000


def test_by_record_pays_a_near_copy_s_credit_to_its_original(tmp_path):
    scores = np.array([[1.0, 2.0], [0.5, 0.5], [-1.0, 0.0], [0.25, 0.25]])  # 4 records x 2 targets
    attribution = Attribution(tmp_path, scores, np.zeros(4), {})
    who = [addr(1), addr(2), addr(2), addr(3)]
    plain = attribution.record_table(who, ["a", "b", "c", "d"])
    assert plain["influence"].tolist() == [3.0, 1.0, -1.0, 0.5] and plain["record_id"].tolist() == ["a", "b", "c", "d"]
    table = pa.table(
        {"record_id": ["a", "b", "c", "d"], "contributor": who, "near_duplicate_of": [None, None, None, "a"]}
    )
    records = attribution.by_record(SimpleNamespace(table=table))
    assert records["influence"].tolist() == [3.5, 1.0, -1.0, 0.0]  # d's credit is a's
    r = rewards.compute(records)
    assert r.as_dict()[addr(3)] == 0 and r.as_dict()[addr(1)] == 777_777
    with pytest.raises(OlabError, match="record_ids has 2 entries; expected one per training record \\(4\\)"):
        attribution.record_table(who, ["a", "b"])


def test_leaderboard_shows_the_signals_behind_each_payout():
    from olab.report import leaderboard, payout_breakdown
    from olab.viz import shares_frame

    who = [addr(1), addr(1), addr(2), addr(3), addr(3)]
    ids = ["a", "b", "c", "d", "e"]
    paid = rewards.compute(frame(list(zip(who, [3.0, -1.0, 2.0, 0.0, 0.0], strict=True))).assign(record_id=ids))
    paid.names = {addr(1): "alice", addr(2): "bob", addr(3): "mallory"}
    table = pd.DataFrame({"contributor": [addr(1), addr(2), addr(3)], "positive": [3.0, 2.0, 0.0]})
    signals = rewards.payout_signals(table, paid, who, ids, [None, None, None, "a", "c"])
    assert signals["harm_ppm"].tolist() == [200_000, 0, 0]
    assert signals["net_ppm"].tolist() == [400_000, 400_000, 0]
    assert signals["near_copies"].tolist() == [0, 0, 2]
    assert signals["copied_from"].tolist() == ["", "", "alice (1), bob (1)"]
    breakdown = payout_breakdown(shares_frame(paid), signals, paid.names)
    row = breakdown[breakdown["contributor"] == "mallory"].iloc[0]
    assert row["near-copies flagged"] == 2 and row["copies of"] == "alice (1), bob (1)"
    assert breakdown[breakdown["contributor"] == "alice"].iloc[0]["harm owed from stake (ppm)"] == 200_000
    board = leaderboard(shares_frame(paid), signals, paid.names)  # who is paid what: net payout, ranked by it
    assert list(board["net payout (ppm)"]) == sorted(signals["net_ppm"], reverse=True)
    assert list(board["contributor"]) == list(breakdown["contributor"]) == ["alice", "bob", "mallory"]
    assert "stake owed (tokens)" not in breakdown  # no stake was settled: no stake columns
    # a run whose publishing settled stake: what alice's harmful record owed and what settling took
    settled = {"owed": {addr(1).lower(): 700}, "slashed": {addr(1): 500}}
    staked = payout_breakdown(
        shares_frame(paid), rewards.payout_signals(table, paid, who, ids, [None] * 5, settled), {}
    )
    assert staked["stake owed (tokens)"].tolist() == [700, 0, 0]
    assert staked["stake slashed (tokens)"].tolist() == [500, 0, 0]
