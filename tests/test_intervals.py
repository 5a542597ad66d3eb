"""Share intervals: their coverage where the true shares are known, determinism, and rewards.json round trips."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from eth_utils import to_checksum_address

from olab import intervals, rewards
from olab.attribution.result import to_payees
from olab.errors import ValidationError
from olab.io import atomic_write_json, read_json
from olab.rewards import PPM, RewardsConfig

CONTRIBUTORS, RECORDS, TARGETS = 9, 40, 200


def addr(i: int) -> str:
    return to_checksum_address(f"0x{i + 1:040x}")


def true_fractions(mean: np.ndarray, owner: np.ndarray, policy: str) -> np.ndarray:
    """The shares with infinitely many targets: each record's influence per target is its mean."""
    weight = np.zeros(CONTRIBUTORS)
    if policy == "positive_influence":
        np.add.at(weight, owner, mean)
        weight = np.clip(weight, 0, None)
    else:
        np.add.at(weight, owner, np.clip(mean, 0, None))
    return weight / weight.sum()


def coverage(policy: str, level: float, trials: int = 120) -> float:
    """How often the interval holds the true share, over contributors and fresh draws of the targets.

    A known model: record r's influence on a target is mean_r + 2·noise, mean_r ~ N(1, 1), the last contributor's
    records 2 lower (harmful on the whole). At 200 targets that makes each record's total about as sure as the
    quickstart's (median |t| ≈ 7; the quickstart's scores give 7.8)."""
    rng = np.random.default_rng(17)
    owner = np.repeat(np.arange(CONTRIBUTORS), RECORDS)
    contributors = [addr(int(i)) for i in owner]
    held = []
    for trial in range(trials):
        mean = rng.normal(1.0, 1.0, size=owner.size) - 2.0 * (owner == CONTRIBUTORS - 1)
        truth = true_fractions(mean, owner, policy) * PPM
        scores = mean[:, None] + 2.0 * rng.standard_normal((owner.size, TARGETS))
        got = intervals.bootstrap(scores, contributors, policy, level=level, resamples=400, seed=trial)
        held += [got.ppm[addr(c)][0] <= truth[c] <= got.ppm[addr(c)][1] for c in range(CONTRIBUTORS)]
    return float(np.mean(held))


@pytest.mark.parametrize("policy", ["per_record", "positive_influence"])
def test_intervals_cover_the_true_shares_at_their_level(policy):
    assert 0.92 <= coverage(policy, 0.95) <= 0.98
    assert 0.42 <= coverage(policy, 0.50, trials=60) <= 0.58  # a 50% interval holds it about half the time


def test_with_the_members_resampled_the_intervals_cover_the_spread_between_models():
    """A known model whose ensemble members disagree: member k adds its own offset to each record's influence
    (model variance, larger than the targets'). Intervals over the targets alone miss the true share most of the
    time; resampling the members too (`members`, what member_scores.npy holds) brings coverage back to about 95%."""
    rng = np.random.default_rng(5)
    owner = np.repeat(np.arange(CONTRIBUTORS), RECORDS)
    contributors = [addr(int(i)) for i in owner]
    held: dict[str, list[bool]] = {"targets": [], "targets and ensemble members": []}
    for trial in range(40):
        mean = rng.normal(1.0, 1.0, size=owner.size) - 2.0 * (owner == CONTRIBUTORS - 1)
        truth = true_fractions(mean, owner, "per_record") * PPM
        offsets = rng.normal(0.0, 1.0, size=(owner.size, 10, 1))  # 10 members
        members = mean[:, None, None] + offsets + 2.0 * rng.standard_normal((owner.size, 10, TARGETS))
        for given in (None, members):
            got = intervals.bootstrap(
                members.mean(axis=1), contributors, "per_record", resamples=300, seed=trial, members=given
            )
            held[got.resampled] += [got.ppm[addr(c)][0] <= truth[c] <= got.ppm[addr(c)][1] for c in range(CONTRIBUTORS)]
    assert np.mean(held["targets"]) < 0.6
    assert 0.85 <= np.mean(held["targets and ensemble members"]) <= 0.99


def test_intervals_are_deterministic_hold_the_share_and_scale_with_the_pool():
    rng = np.random.default_rng(0)
    owner = np.repeat(np.arange(4), 30)
    scores = rng.normal(1.0, 1.0, size=(owner.size, 1))[:, [0] * 50] + rng.standard_normal((owner.size, 50))
    who = [addr(int(i)) for i in owner]
    first = intervals.bootstrap(scores, who, "per_record", resamples=300)
    assert first == intervals.bootstrap(scores, who, "per_record", resamples=300)
    assert first != intervals.bootstrap(scores, who, "per_record", resamples=300, seed=1)
    table = pd.DataFrame({"contributor": who, "influence": scores.sum(axis=1)})
    paid = rewards.compute(table)
    for s in paid.shares:
        if s.contributor != rewards.POOL_REMAINDER:
            low, high = first.ppm[s.contributor]
            assert low <= s.share_ppm <= high and high - low > 0
    half = intervals.bootstrap(scores, who, "per_record", resamples=300, pool_fraction=0.5)
    for a, (low, high) in first.ppm.items():
        assert abs(half.ppm[a][0] - low / 2) <= 1 and abs(half.ppm[a][1] - high / 2) <= 1


@pytest.mark.parametrize("policy", ["per_record", "positive_influence", "positive_records"])
def test_the_bootstrap_computes_each_policy_as_olab_rewards_does(policy):
    """The bootstrap restates each policy in numpy (for a thousand resamples at once). With one target every
    resample is the sample itself, so each interval collapses onto the share olab.rewards pays: harmful records,
    a contributor harmful on the whole, a near-copy whose influence is its original's, half the pool."""
    rng = np.random.default_rng(3)
    owner = np.repeat(np.arange(6), 7)
    influence = rng.normal(0.5, 1.0, size=owner.size) - 1.5 * (owner == 5)
    payee = np.arange(owner.size)
    payee[3] = 10  # record 3 (contributor 0) is a near-copy of record 10 (contributor 1)
    who = [addr(int(i)) for i in owner]
    got = intervals.bootstrap(influence[:, None], who, policy, payee=payee, resamples=20, pool_fraction=0.5)
    paid_influence = to_payees(influence.copy(), payee)
    cfg = RewardsConfig(policy=policy, split={"contributors": 0.5, "developer": 0.5, "developer_address": addr(99)})
    paid = rewards.compute(pd.DataFrame({"contributor": who, "influence": paid_influence}), cfg)
    shares = {s.contributor: s.share_ppm for s in paid.shares}
    for c in range(6):
        low, high = got.ppm[addr(c)]
        assert low <= shares[addr(c)] <= high and high - low <= 1, (c, low, high, shares[addr(c)])


def test_a_near_copy_earns_no_interval_its_original_gets_its_influence():
    scores = np.array([[1.0, 2.0, 1.5], [0.5, 0.7, 0.6], [3.0, 2.0, 2.5]])
    who = [addr(0), addr(1), addr(2)]
    got = intervals.bootstrap(scores, who, "per_record", payee=[0, 1, 0], resamples=200)
    assert got.ppm[addr(2)] == (0, 0)
    assert got.ppm[addr(0)][0] > got.ppm[addr(1)][1]


def test_bad_inputs_say_what_is_wrong():
    with pytest.raises(ValidationError, match=r"members has shape \(3, 2, 5\); expected \(3, members, 2\)"):
        intervals.bootstrap(np.ones((3, 2)), [addr(0)] * 3, "per_record", members=np.ones((3, 2, 5)))
    with pytest.raises(ValidationError, match="one per score row"):
        intervals.bootstrap(np.ones((3, 2)), [addr(0)], "per_record")
    with pytest.raises(ValidationError, match="at least one target"):
        intervals.bootstrap(np.ones((1, 0)), [addr(0)], "per_record")


def test_rewards_json_keeps_intervals_outside_the_tree(tmp_path):
    table = pd.DataFrame({"contributor": [addr(0), addr(1), addr(1)], "influence": [1.0, 2.0, 0.5]})
    paid = rewards.compute(table, RewardsConfig())
    paid.intervals = intervals.bootstrap(
        np.array([[1.0, 1.0], [1.5, 0.5], [0.2, 0.3]]), list(table.contributor), "per_record", resamples=100
    )
    path = paid.write(tmp_path / "rewards.json", run_id="r")
    again = rewards.Rewards.open(path)
    assert again.intervals == paid.intervals and again.root == paid.root
    assert again.interval(addr(1).lower()) == paid.intervals.ppm[addr(1)]
    assert again.interval(rewards.POOL_REMAINDER) is None
    data = read_json(path)
    assert data["intervals"]["method"] == "percentile bootstrap over targets" and data["intervals"]["level"] == 0.95
    data["intervals"]["ppm"][addr(1)] = [0, PPM]  # metadata: changing it leaves the root and its proofs valid
    atomic_write_json(path, data)
    assert rewards.verify_file(path) == []


def test_the_targets_a_width_asks_for_narrow_the_widest_interval_to_about_it():
    """Intervals narrow as 1/sqrt(targets): the count `targets_for` names from 100 targets gives about the width
    asked for when that many targets are drawn from the same known model."""
    rng = np.random.default_rng(3)
    owner = np.repeat(np.arange(CONTRIBUTORS), RECORDS)
    who = [addr(int(i)) for i in owner]
    mean = rng.normal(1.0, 1.0, size=owner.size)

    def widest(targets: int, seed: int) -> intervals.ShareIntervals:
        scores = mean[:, None] + 2.0 * np.random.default_rng(seed).standard_normal((owner.size, targets))
        return intervals.bootstrap(scores, who, "per_record", resamples=400, seed=seed)

    few = [widest(100, s) for s in range(4)]
    asked = 6_000
    needed = int(np.median([f.targets_for(asked) for f in few]))
    assert needed > 100
    got = np.median([widest(needed, s).widest_ppm for s in range(10, 14)])
    assert 0.8 * asked <= got <= 1.2 * asked, (needed, got, [f.widest_ppm for f in few])
    met = intervals.ShareIntervals(few[0].ppm, targets=100, asked_ppm=10 * few[0].widest_ppm)
    assert met.precision_note() is None and met.targets_for(met.asked_ppm) == 100  # never fewer than it has
    short = intervals.ShareIntervals(few[0].ppm, targets=100, asked_ppm=asked)
    assert f"about {short.targets_for(asked):,} targets (now 100; 100 x (" in short.precision_note()
    params = {"n_train": 360, "n_targets": 100, "timings": {"featurize_s": 46.0, "score_s": 2.0}}
    extra = (short.targets_for(asked) - 100) * (46.0 / 460 + 2.0 / 100)
    assert f"adding about {extra:,.0f} s to attribution at this run's rate" in short.precision_note(params)
    over_members = replace(short, resampled=intervals.RESAMPLED_WITH_MEMBERS).precision_note()
    assert "part of the width is the ensemble members' spread, which more targets do not narrow" in over_members
    assert intervals.ShareIntervals.from_json(short.to_json()) == short
