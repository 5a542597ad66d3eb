"""How sure a reward share is: a 95% interval per contributor, by bootstrap over the targets and the members.

A share is computed from each record's influence summed over the targets, so the targets are a sample and
every share an estimate. Drawing the targets again with replacement (a seeded generator: the same scores give
the same intervals) and recomputing every contributor's share under the run's policy gives each share's
sampling spread; the interval is its 2.5th to 97.5th percentile. When the attribution kept each ensemble
member's own scores (`member_scores.npy`: several members, olab engine, local executor) the members are drawn
again with replacement too, in the same resample, so the interval also covers the spread between the models
(checkpoints or seeds) averaged; `resampled` says which was done. Either way it does not cover other training
seeds than the run's (`experiments/reward_stability` measures that).

Intervals are in ppm of the whole pool (a fee split's contributors' part is applied), before the dust rule and
rounding. They are metadata in `rewards.json`, outside the leaves the reward root commits to.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from eth_utils import to_checksum_address

from olab.attribution.result import payee_rows, to_payees
from olab.errors import ValidationError

LEVEL = 0.95
RESAMPLES = 1000
SEED = 0
RESAMPLED = "targets"
RESAMPLED_WITH_MEMBERS = "targets and ensemble members"
# policies whose contributor weight is the sum of its records' positive parts; positive_influence clips the sum
RECORD_CLIPPED = ("per_record", "positive_records")
_CELLS = 1 << 24  # records x resamples held at once (128 MiB of float64); more resamples run in chunks


@dataclass(frozen=True)
class ShareIntervals:
    """{address: (low_ppm, high_ppm)} at `level`, from `resamples` draws of the `targets` targets."""

    ppm: dict[str, tuple[int, int]]
    level: float = LEVEL
    resamples: int = RESAMPLES
    seed: int = SEED
    targets: int = 0
    resampled: str = RESAMPLED
    asked_ppm: int | None = None  # rewards.max_interval_ppm: the widest interval asked for (None: not asked)

    def __post_init__(self) -> None:  # addresses in any case, looked up checksummed
        object.__setattr__(
            self, "ppm", {to_checksum_address(a): (int(lo), int(hi)) for a, (lo, hi) in self.ppm.items()}
        )

    @property
    def widest_ppm(self) -> int:
        """The width of the widest interval, in ppm."""
        return max((hi - lo for lo, hi in self.ppm.values()), default=0)

    def targets_for(self, width_ppm: int) -> int:
        """About how many targets would bring the widest interval to `width_ppm`: a share is a ratio of sums over
        the targets, so its interval narrows as 1/sqrt(targets)."""
        return max(self.targets, math.ceil(self.targets * (self.widest_ppm / width_ppm) ** 2))

    def precision_note(self, attribution_params: Mapping[str, Any] | None = None) -> str | None:
        """What meeting `rewards.max_interval_ppm` would cost, or None when it is met (or not asked).

        The count is targets_for: now · (widest / asked)², rounded up. With the run's `attribution.json`
        parameters it also says what the extra targets would add to attribution at the run's own rate: each new
        target is featurized once per member (featurize_s / (n_train + n_targets) per example, all members) and
        scored against every training record (score_s / n_targets)."""
        if self.asked_ppm is None or self.widest_ppm <= self.asked_ppm:
            return None
        needed = self.targets_for(self.asked_ppm)
        note = (
            f"the widest {self.level:.0%} share interval is {self.widest_ppm:,} ppm, wider than "
            f"rewards.max_interval_ppm={self.asked_ppm:,}: about {needed:,} targets (now {self.targets:,}; "
            f"{self.targets:,} x ({self.widest_ppm:,} / {self.asked_ppm:,})^2, as an interval narrows with "
            f"1/sqrt(targets)) would narrow it to that"
        )
        timings = (attribution_params or {}).get("timings") or {}
        if {"featurize_s", "score_s"} <= set(timings) and attribution_params.get("n_targets"):
            p = attribution_params
            per_target = timings["featurize_s"] / (p["n_train"] + p["n_targets"]) + timings["score_s"] / p["n_targets"]
            note += f", adding about {(needed - self.targets) * per_target:,.0f} s to attribution at this run's rate"
        if self.resampled == RESAMPLED_WITH_MEMBERS:
            note += "; part of the width is the ensemble members' spread, which more targets do not narrow"
        return note + "; models trained with other seeds are not in these intervals"

    def of(self, address: str) -> tuple[int, int] | None:
        """The interval of one address (any case), or None if it has none (the pool, a fee-split role)."""
        return self.ppm.get(to_checksum_address(address)) if address else None

    def to_json(self) -> dict[str, Any]:
        return {
            "level": self.level,
            "method": f"percentile bootstrap over {self.resampled}",
            "resampled": self.resampled,
            "resamples": self.resamples,
            "seed": self.seed,
            "targets": self.targets,
            "widest_ppm": self.widest_ppm,
            **(
                {"asked_ppm": self.asked_ppm, "targets_for_asked": self.targets_for(self.asked_ppm)}
                if self.asked_ppm is not None
                else {}
            ),
            "ppm": {a: [lo, hi] for a, (lo, hi) in sorted(self.ppm.items())},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ShareIntervals:
        return cls(
            ppm=data["ppm"],
            level=float(data["level"]),
            resamples=int(data["resamples"]),
            seed=int(data["seed"]),
            targets=int(data["targets"]),
            resampled=str(data.get("resampled", RESAMPLED)),
            asked_ppm=data.get("asked_ppm"),
        )


def share_text(ppm: int, interval: tuple[int, int] | None = None) -> str:
    """A share as people read it: "12.40 % [10.90, 13.80]" (percent, then its interval when there is one)."""
    text = f"{ppm / 10_000:.2f} %"
    return text if interval is None else f"{text} [{interval[0] / 10_000:.2f}, {interval[1] / 10_000:.2f}]"


def bootstrap(
    scores: Any,
    contributors: Sequence[str],
    policy: str,
    *,
    payee: Sequence[int] | None = None,
    pool_fraction: float = 1.0,
    level: float = LEVEL,
    resamples: int = RESAMPLES,
    seed: int = SEED,
    members: Any = None,
) -> ShareIntervals:
    """Each contributor's share interval from `scores` (records x targets; a memory map is read in blocks).

    `contributors`: one address per record (row). `payee`: for each row, the row whose record is paid for its
    influence (a near-copy's original; default: itself), as `Attribution.by_record` pays. `policy`: the rewards
    policy; `pool_fraction`: the contributors' part of the pool. `members` (records x members x targets, whose
    mean over the members is `scores`): each resample also draws the members again, with replacement.
    """
    n, t = scores.shape
    if len(contributors) != n:
        raise ValidationError(f"contributors has {len(contributors)} entries; expected one per score row ({n})")
    if t == 0 or resamples < 1 or not 0 < level < 1:
        raise ValidationError(
            f"a share interval needs at least one target, resamples >= 1 and 0 < level < 1; got {t} targets, "
            f"resamples={resamples}, level={level}"
        )
    addresses = [to_checksum_address(a) for a in contributors]
    owners = sorted(set(addresses), key=str.lower)
    index = {a: i for i, a in enumerate(owners)}
    owner_of = np.array([index[a] for a in addresses], dtype=int)
    payee_of = np.arange(n) if payee is None else np.asarray(payee, dtype=int)
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(t, np.full(t, 1.0 / t), size=resamples).astype(np.float64)
    if members is not None and members.shape[0::2] != (n, t):
        raise ValidationError(f"members has shape {members.shape}; expected ({n}, members, {t}) beside the scores")
    m = 0 if members is None else members.shape[1]
    weights = rng.multinomial(m, np.full(m, 1.0 / m), size=resamples) / m if m else None  # resamples x members

    def totals(rows: slice) -> np.ndarray:
        if weights is None:
            return _totals(scores, counts[rows])
        return sum(_totals(members[:, k, :], counts[rows]) * weights[rows, k] for k in range(m))

    chunk = max(1, _CELLS // max(n, 1))
    fractions = np.concatenate(
        [
            _fractions(totals(slice(i, i + chunk)), owner_of, payee_of, len(owners), policy)
            for i in range(0, resamples, chunk)
        ],
        axis=1,
    )
    tail = (1 - level) / 2
    low, high = np.quantile(fractions * pool_fraction * 1_000_000, [tail, 1 - tail], axis=1)
    return ShareIntervals(
        ppm={a: (math.floor(lo), math.ceil(hi)) for a, lo, hi in zip(owners, low, high, strict=True)},
        level=level,
        resamples=resamples,
        seed=seed,
        targets=t,
        resampled=RESAMPLED if weights is None else RESAMPLED_WITH_MEMBERS,
    )


def for_run(attribution: Any, datanet: Any, cfg: Any) -> ShareIntervals | None:
    """The share intervals of a run's rewards (`cfg`: its `RewardsConfig`, whose `max_interval_ppm` they carry),
    or None when `rewards.interval_resamples` is 0."""
    if not cfg.interval_resamples:
        return None
    table = datanet.table
    found = bootstrap(
        attribution.scores,
        table.column("contributor").to_pylist(),
        cfg.policy,
        payee=payee_rows(table),
        pool_fraction=float(cfg.split.parts()["contributors"]) if cfg.split else 1.0,
        resamples=cfg.interval_resamples,
        members=attribution.member_scores,
    )
    return replace(found, asked_ppm=cfg.max_interval_ppm)


def _totals(scores: Any, counts: np.ndarray, block: int = 65536) -> np.ndarray:
    """Each record's influence summed over each resample of the targets (records x resamples)."""
    return np.concatenate(
        [np.asarray(scores[i : i + block], dtype=np.float64) @ counts.T for i in range(0, scores.shape[0], block)]
    )


def _fractions(totals: np.ndarray, owner_of: np.ndarray, payee: np.ndarray, owners: int, policy: str) -> np.ndarray:
    """Each owner's fraction of the contributors' pool per resample (owners x resamples), as `olab.rewards`
    computes it: a near-copy's influence is its original's; a resample where nobody earns splits equally.
    (tests/test_intervals.py checks that the two forms of each policy agree.)"""
    to_payees(totals, payee)
    weight = np.zeros((owners, totals.shape[1]))
    if policy in RECORD_CLIPPED:
        np.add.at(weight, owner_of, np.clip(totals, 0, None))
    else:
        np.add.at(weight, owner_of, totals)
        weight = np.clip(weight, 0, None)
    total = weight.sum(axis=0)
    return np.where(total > 0, weight / np.where(total > 0, total, 1), 1.0 / owners)


__all__ = [
    "LEVEL",
    "RESAMPLED",
    "RESAMPLED_WITH_MEMBERS",
    "RESAMPLES",
    "ShareIntervals",
    "bootstrap",
    "for_run",
    "share_text",
]
