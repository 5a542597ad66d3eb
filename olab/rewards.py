"""Contributor rewards: attribution -> integer shares in parts-per-million -> a reward Merkle tree.

The default policy, `per_record`, pays credit per record so that it cannot be gamed by moving records
between addresses: every record's positive influence is paid from the pool (a contributor's share is
the sum over their records, rounded down), and every harmful record owes what its harm would have
earned had it helped (`harm_ppm`, rounded up), paid from the deposit staked behind it. Both are sums over
records, so one address holding a set of records earns at least what any split of them over several
addresses earns, and adding a helpful record never lowers a payout. The rounding units left over
(fewer than one per contributor) go to `POOL_REMAINDER`, an address nobody holds: they stay in the pool.

The older contributor-level policies remain: `positive_influence` (OpenLedger's Proof of Attribution
as first described: influence netted per contributor, clipped at zero; gameable by splitting) and
`positive_records`. Their shares use largest-remainder rounding over exact rationals. Shares always sum to
exactly 1,000,000, independent of input order or float summation order. The tree is an OpenZeppelin
`StandardMerkleTree` with leaves `(address contributor, uint256 share_ppm)`, so `MerkleProof.sol` and
OpenZeppelin's JS verify it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

from eth_utils import is_address, to_checksum_address
from pydantic import Field, field_validator, model_validator

from olab.config import Section
from olab.errors import ConfigError, ValidationError, VerificationError
from olab.io import atomic_write_json, read_json
from olab.merkle import StandardMerkleTree, verify_leaf

PPM = 1_000_000
LEAF_ENCODING = ["address", "uint256"]

# which column of the attribution stage's contributor table each contributor-level policy reads
POLICY_COLUMN = {"positive_influence": "total", "positive_records": "positive"}
# per_record: rounding units nobody is owed go to this leaf; no key signs for it, so they stay in the pool
POOL_REMAINDER = "0x0000000000000000000000000000000000000000"


class FeeSplit(Section):
    """How a fee is divided between the model developer, stakers and the data contributors."""

    developer: float = Field(0.0, ge=0, le=1, description="Fraction of the fee paid to the model developer.")
    stakers: float = Field(0.0, ge=0, le=1, description="Fraction of the fee paid to stakers (one pool address).")
    contributors: float = Field(
        1.0, gt=0, le=1, description="Fraction shared among data contributors by the policy (must be > 0)."
    )
    developer_address: str | None = Field(
        None, description="EVM address that receives the developer fraction (required when developer > 0)."
    )
    stakers_address: str | None = Field(
        None, description="EVM address of the stakers' pool (required when stakers > 0)."
    )

    @field_validator("developer_address", "stakers_address")
    @classmethod
    def _address(cls, v: str | None) -> str | None:
        if v is not None and not is_address(v):
            raise ValueError(f"{v!r} is not an EVM address (0x + 40 hex digits, valid checksum if mixed case)")
        return None if v is None else to_checksum_address(v)

    @model_validator(mode="after")
    def _check(self) -> FeeSplit:
        total = self.developer + self.stakers + self.contributors
        if abs(total - 1) > 1e-9:
            raise ValueError(
                f"developer + stakers + contributors must sum to 1, got {self.developer} + {self.stakers} + "
                f"{self.contributors} = {total:g}"
            )
        for role in ("developer", "stakers"):
            if getattr(self, role) > 0 and not getattr(self, f"{role}_address"):
                raise ValueError(f"{role}_address is required when {role} > 0 (the address paid {role}'s fraction)")
        return self

    def recipients(self) -> dict[str, str]:
        """{address: role} of the non-contributor recipients (how reports and the CLI name them)."""
        roles = {self.developer_address: "developer", self.stakers_address: "stakers"}
        return {a: role for a, role in roles.items() if a}

    def parts(self) -> dict[str, Fraction]:
        """Exact fractions {developer, stakers, contributors}, normalised to sum to exactly 1."""
        raw = {k: Fraction(str(getattr(self, k))) for k in ("developer", "stakers", "contributors")}
        total = sum(raw.values())
        return {k: v / total for k, v in raw.items()}


class StakeConfig(Section):
    """Stake and slashing (StakeVault): publishing the run funds its pool and settles the Datanet's stake, once."""

    pool: int = Field(
        gt=0, description="Test-token units the publisher funds into the run's reward pool before settling it."
    )
    deposit_per_record: int = Field(
        gt=0,
        description="Test-token units a contributor stakes behind each record: the most one harmful record loses. "
        "Each harmful record loses min(deposit_per_record, ceil(harm_ppm * pool / 1e6)), an address never more "
        "than it has staked in the Datanet; the slashed tokens are paid into the pool.",
    )


class RewardsConfig(Section):
    """The `rewards` section of a run config."""

    policy: Literal["per_record", "positive_influence", "positive_records"] = Field(
        "per_record",
        description=(
            "per_record: credit per record, additive over records so splitting an identity gains nothing: each "
            "record's positive influence is paid from the pool (shares rounded down), each harmful record owes "
            "harm_ppm (its harm in the same units, rounded up) from its deposit. "
            "positive_influence: shares proportional to each contributor's net influence, max(total, 0) "
            "(gameable: moving harmful records to a second address raises the total). "
            "positive_records: shares proportional to the sum of each record's positive influence; harm is ignored."
        ),
    )
    split: FeeSplit | None = Field(
        None, description="Optional fee split between developer, stakers and contributors; none: all to contributors."
    )
    min_share_ppm: int = Field(
        0,
        ge=0,
        le=PPM,
        description="Dust threshold: a contributor whose exact share is below this many ppm gets 0; the rest share it.",
    )
    stake: StakeConfig | None = Field(
        None, description="Stake and slashing settled when the run is published; none: no settlement."
    )
    if_all_zero: Literal["error", "equal_split"] = Field(
        "error",
        description="When no contributor has positive influence: 'error' stops the run, 'equal_split' pays all equally.",
    )
    interval_resamples: int = Field(
        1000,
        ge=0,
        description=(
            "Resamples of the targets (bootstrap) behind each share's 95% interval, kept in rewards.json outside "
            "the reward tree; 0: no intervals."
        ),
    )
    max_interval_ppm: int | None = Field(
        None,
        ge=1,
        description=(
            "Precision asked for: the widest 95% share interval, in ppm. When the run's is wider, olab run says how "
            "many targets would narrow it to this (the width falls as 1/sqrt(targets)) and records it in "
            "rewards.json; it does not add them. None: no check."
        ),
    )


@dataclass(frozen=True)
class Share:
    """One leaf of the reward tree: a contributor, their share in ppm, and its Merkle proof."""

    contributor: str
    share_ppm: int
    proof: list[str] = field(default_factory=list)


@dataclass
class Rewards:
    """Shares (ranked: largest first, ties by address) and the Merkle tree committing to them."""

    shares: list[Share]
    root: str
    tree: StandardMerkleTree
    policy: str
    names: dict[str, str] = field(default_factory=dict)  # address -> display name: metadata, not in the tree
    # per_record: address -> {record_id: harm_ppm} of each harmful record (what its deposit owes); not in the tree
    harm: dict[str, dict[str, int]] = field(default_factory=dict)
    run_id: str | None = None  # the run these rewards were written for (set when read from rewards.json)
    # how sure each share is (olab.intervals.ShareIntervals): metadata, not in the tree; None when not computed
    intervals: Any = None

    @classmethod
    def open(cls, path: str | Path) -> Rewards:
        """Read a `rewards.json` (its `run_id` included); VerificationError listing the problems if it does not
        verify (every proof against the root, the sum, the root over the listed shares)."""
        problems = verify_file(path)
        if problems:
            raise VerificationError(f"{path} does not verify:\n  - " + "\n  - ".join(problems))
        data = read_json(path)
        shares = {s["contributor"]: s["share_ppm"] for s in data["shares"]}
        names = data.get("names")
        names = (
            {to_checksum_address(a): str(n) for a, n in names.items() if is_address(a)}
            if isinstance(names, dict)
            else {}
        )
        harm = {to_checksum_address(a): dict(h) for a, h in data.get("harm_ppm", {}).items()}
        intervals = None
        if isinstance(data.get("intervals"), dict):
            from olab.intervals import ShareIntervals

            intervals = ShareIntervals.from_json(data["intervals"])
        return replace(
            from_shares(shares, data.get("policy", "unknown")),
            run_id=data["run_id"],
            names=names,
            harm=harm,
            intervals=intervals,
        )

    def interval(self, address: str) -> tuple[int, int] | None:
        """The 95% interval (low_ppm, high_ppm) of an address's share, or None when there is none."""
        return self.intervals.of(address) if self.intervals is not None else None

    def harm_ppm(self, address: str) -> int:
        """What an address's harmful records owe in total, in ppm of the contributors' pool (0 if none)."""
        return sum(self.harm.get(_checksum(address, "address"), {}).values())

    def slashes(self, pool: int, deposit_per_record: int) -> dict[str, int]:
        """Tokens each address's stake loses when a run whose pool holds `pool` tokens is settled: each
        harmful record loses min(deposit_per_record, ceil(harm_ppm * pool / PPM)), i.e. what its harm would
        have earned from the pool, up to its deposit. Addresses with nothing to lose are left out."""
        for value, what in ((pool, "pool"), (deposit_per_record, "deposit_per_record")):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValidationError(f"{what} must be a non-negative integer number of token units, got {value!r}")
        out = {
            a: sum(min(deposit_per_record, -(-h * pool // PPM)) for h in records.values())
            for a, records in sorted(self.harm.items())
        }
        return {a: v for a, v in out.items() if v}

    def net_ppm(self) -> dict[str, int]:
        """{address: share_ppm - harm_ppm}: what each address nets once its deposits cover its harm."""
        return {s.contributor: s.share_ppm - self.harm_ppm(s.contributor) for s in self.shares}

    def ranked(self) -> list[Share]:
        """Shares from largest to smallest; equal shares in address order."""
        return sorted(self.shares, key=lambda s: (-s.share_ppm, s.contributor.lower()))

    def rank(self, address: str) -> int:
        """1 for the largest share, in `ranked()` order."""
        want = self.share(address).contributor
        return next(i for i, s in enumerate(self.ranked(), 1) if s.contributor == want)

    def as_dict(self) -> dict[str, int]:
        """{checksummed address: share_ppm}."""
        return {s.contributor: s.share_ppm for s in self.shares}

    def share(self, address: str) -> Share:
        """The share and proof of one address (what a claim needs)."""
        want = _checksum(address, "address")
        for s in self.shares:
            if s.contributor == want:
                return s
        raise ValidationError(f"{want} has no share in the reward tree with root {self.root}")

    def to_json(self, run_id: str) -> dict[str, Any]:
        return {
            "run_id": run_id,
            "root": self.root,
            "leaf_encoding": list(LEAF_ENCODING),
            "policy": self.policy,
            "shares": [{"contributor": s.contributor, "share_ppm": s.share_ppm, "proof": s.proof} for s in self.shares],
            # who each address is, for people reading the file; not part of the leaves the root commits to
            "names": {s.contributor: self.names[s.contributor] for s in self.shares if s.contributor in self.names},
            # per_record: what each harmful record's deposit owes, in ppm of the pool; settled by slashing
            "harm_ppm": {a: dict(sorted(h.items())) for a, h in sorted(self.harm.items())},
            # how sure each share is (olab.intervals): percentiles of a seeded bootstrap; not in the tree
            **({"intervals": self.intervals.to_json()} if self.intervals is not None else {}),
        }

    def write(self, path: str | Path, run_id: str) -> Path:
        """Write `rewards.json` atomically."""
        return atomic_write_json(path, self.to_json(run_id))


def from_shares(shares_ppm: Mapping[str, int], policy: str) -> Rewards:
    """Build the tree over given integer shares (ranked order) and attach each proof."""
    if not shares_ppm:
        raise ValidationError("cannot build a reward tree with no contributors")
    items = sorted(
        ((_checksum(a, "contributor"), int(p)) for a, p in shares_ppm.items()), key=lambda t: (-t[1], t[0].lower())
    )
    tree = StandardMerkleTree([[a, p] for a, p in items], LEAF_ENCODING)
    shares = [Share(a, p, tree.proof(i)) for i, (a, p) in enumerate(items)]
    return Rewards(shares=shares, root=tree.root_hex, tree=tree, policy=policy)


# --- computing shares ----------------------------------------------------------------------------


def compute(influence: Mapping[str, Any] | Any, cfg: RewardsConfig | None = None) -> Rewards:
    """Turn attribution into ppm shares (and, under `per_record`, each harmful record's harm) and their tree.

    `influence` is one of: a record table (a DataFrame with one row per training record: `contributor`,
    `influence`, optionally `record_id`); the attribution stage's contributor table (`contributor` and a
    `total` or `positive` column; contributor-level policies only); or a mapping {address: value}, where
    a value is one record's influence or a list of records' influences. Every contributor given is
    listed, with 0 if it earns nothing.
    """
    cfg = cfg or RewardsConfig()
    parts = (
        cfg.split.parts()
        if cfg.split
        else {"developer": Fraction(0), "stakers": Fraction(0), "contributors": Fraction(1)}
    )
    if cfg.policy == "per_record":
        return _per_record(_record_rows(influence), cfg, parts)
    weights = _policy_weights(influence, cfg.policy)
    pool = _contributor_fractions(weights, cfg)
    payout = _with_roles({addr: frac * parts["contributors"] for addr, frac in pool.items()}, cfg, parts)
    return from_shares(largest_remainder(payout), cfg.policy)


def _with_roles(payout: dict[str, Fraction], cfg: RewardsConfig, parts: dict[str, Fraction]) -> dict[str, Fraction]:
    """Add the developer's and stakers' fractions (a developer who also contributed keeps one leaf)."""
    for role in ("developer", "stakers"):
        if parts[role] > 0:
            addr = getattr(cfg.split, f"{role}_address")
            payout[addr] = payout.get(addr, Fraction(0)) + parts[role]
    return payout


def _per_record(rows: list[tuple[str, str, Fraction]], cfg: RewardsConfig, parts: dict[str, Fraction]) -> Rewards:
    """Credit per record: shares floor(PPM * paid fraction), harm ceil(PPM * harm / positive total) per record."""
    helped: dict[str, Fraction] = {}
    for addr, _, v in rows:
        helped[addr] = helped.get(addr, Fraction(0)) + max(v, Fraction(0))
    total = sum(helped.values())
    harm: dict[str, dict[str, int]] = {}
    if total == 0:
        if cfg.if_all_zero == "error":
            raise ValidationError(
                f"no record has positive influence under policy 'per_record' ({len(rows)} records of {len(helped)} "
                "contributors, all <= 0); nothing to pay in proportion. Set rewards.if_all_zero: equal_split to pay "
                "all contributors equally."
            )
        fractions = {a: Fraction(1, len(helped)) for a in helped}
    else:
        fractions = {a: h / total for a, h in helped.items()}
        scale = parts["contributors"] * PPM / total
        for addr, rid, v in rows:
            if v < 0:
                harm.setdefault(addr, {})[rid] = math.ceil(-v * scale)
    if cfg.min_share_ppm > 0:  # dust is not redistributed (that would reward splitting): it stays in the pool
        pool_ppm = parts["contributors"] * PPM
        fractions = {a: (f if f * pool_ppm >= cfg.min_share_ppm else Fraction(0)) for a, f in fractions.items()}
    payout = _with_roles({a: f * parts["contributors"] for a, f in fractions.items()}, cfg, parts)
    out = from_shares(floor_ppm(payout), "per_record")
    out.harm = harm
    return out


def floor_ppm(payout: Mapping[str, Fraction]) -> dict[str, int]:
    """Exact fractions (summing to at most 1) as ppm shares rounded down, the units left to `POOL_REMAINDER`: no
    address gains by rounding, so splitting over addresses gains nothing; the shares sum to exactly PPM."""
    shares = {a: math.floor(f * PPM) for a, f in payout.items()}
    left = PPM - sum(shares.values())
    if left:
        shares[POOL_REMAINDER] = shares.get(POOL_REMAINDER, 0) + left
    return shares


def _record_rows(influence: Mapping[str, Any] | Any) -> list[tuple[str, str, Fraction]]:
    """[(checksummed contributor, record id, influence as an exact rational)] from a record table or mapping."""
    if hasattr(influence, "columns"):
        if "influence" not in influence.columns or "contributor" not in influence.columns:
            raise ValidationError(
                "policy 'per_record' needs one row per training record with columns contributor and influence "
                f"(Attribution.by_record or record_table gives it); this table has {list(influence.columns)}"
            )
        ids = influence["record_id"].tolist() if "record_id" in influence.columns else range(len(influence))
        raw = zip(influence["contributor"].tolist(), ids, influence["influence"].tolist(), strict=True)
        pairs = [(c, str(r), v) for c, r, v in raw]
    elif isinstance(influence, Mapping):
        pairs = []
        for c, v in influence.items():
            values = list(v) if isinstance(v, list | tuple) else [v]
            pairs += [(c, f"{str(c).lower()}#{k}", x) for k, x in enumerate(values)]
    else:
        raise ValidationError(
            f"influence must be a record table (DataFrame with contributor and influence columns) or a mapping "
            f"{{address: value or list of values}}, got {type(influence).__name__}"
        )
    if not pairs:
        raise ValidationError("no contributors to reward: the influence table is empty")
    rows, seen = [], set()
    for c, rid, value in pairs:
        addr = _checksum(c, "contributor")
        if rid in seen:
            raise ValidationError(f"record {rid} appears more than once in the influence table")
        seen.add(rid)
        rows.append((addr, rid, _finite(value, f"record {rid} of contributor {addr}")))
    return rows


def _finite(value: Any, what: str) -> Fraction:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValidationError(f"influence of {what} is {value!r}, not a number") from None
    if not math.isfinite(v):
        raise ValidationError(f"influence of {what} is {v}; expected a finite number")
    return Fraction(v)


def largest_remainder(fractions: Mapping[str, Fraction]) -> dict[str, int]:
    """Round fractions summing to 1 into integers summing to exactly PPM.

    Each gets floor(f * PPM); the units left go to the largest remainders, equal remainders to the
    lower address (lowercase hex order). A zero fraction never receives a unit.
    """
    quotas = {a: f * PPM for a, f in fractions.items()}
    if sum(quotas.values()) != PPM:
        raise ValueError(f"fractions must sum to 1, got {float(sum(fractions.values()))}")
    out = {a: math.floor(q) for a, q in quotas.items()}
    left = PPM - sum(out.values())
    order = sorted(quotas, key=lambda a: (-(quotas[a] - out[a]), a.lower()))
    for a in order[:left]:
        out[a] += 1
    return out


def _policy_weights(influence: Mapping[str, float] | Any, policy: str) -> dict[str, Fraction]:
    """{checksummed address: max(value, 0) as an exact rational} from a mapping or a contributor table."""
    if hasattr(influence, "columns") and "influence" in influence.columns and "total" not in influence.columns:
        # a record table: the contributor-level policies read its per-contributor sums
        per = influence.assign(positive=influence["influence"].clip(lower=0), total=influence["influence"])
        influence = per.groupby("contributor", sort=False, as_index=False)[["total", "positive"]].sum()
    if hasattr(influence, "columns"):  # a pandas DataFrame (the attribution stage's contributor table)
        column = POLICY_COLUMN[policy]
        missing = [c for c in ("contributor", column) if c not in influence.columns]
        if missing:
            raise ValidationError(
                f"the contributor table lacks column(s) {missing} needed by rewards policy {policy!r}; "
                f"it has {list(influence.columns)}"
            )
        pairs = list(zip(influence["contributor"].tolist(), influence[column].tolist(), strict=True))
    elif isinstance(influence, Mapping):
        pairs = list(influence.items())
    else:
        raise ValidationError(
            f"influence must be a mapping {{address: value}} or a DataFrame with a contributor column, "
            f"got {type(influence).__name__}"
        )
    if not pairs:
        raise ValidationError("no contributors to reward: the influence table is empty")
    weights: dict[str, Fraction] = {}
    for raw, value in pairs:
        addr = _checksum(raw, "contributor")
        if addr in weights:
            raise ValidationError(f"contributor {addr} appears more than once in the influence table")
        v = _finite(value, f"contributor {addr}")
        weights[addr] = v if v > 0 else Fraction(0)
    return weights


def _contributor_fractions(weights: dict[str, Fraction], cfg: RewardsConfig) -> dict[str, Fraction]:
    """Each contributor's exact fraction of the contributors' pool (sums to 1), after the dust rule."""
    total = sum(weights.values())
    if total == 0:
        if cfg.if_all_zero == "error":
            raise ValidationError(
                f"no contributor has positive influence under policy {cfg.policy!r} ({len(weights)} contributors, "
                "all <= 0); nothing to pay in proportion. Set rewards.if_all_zero: equal_split to pay all equally."
            )
        return {a: Fraction(1, len(weights)) for a in weights}
    if cfg.min_share_ppm > 0:
        pool_ppm = PPM * (cfg.split.parts()["contributors"] if cfg.split else 1)
        kept = {a: (w if w * pool_ppm / total >= cfg.min_share_ppm else Fraction(0)) for a, w in weights.items()}
        if sum(kept.values()) == 0:
            raise ConfigError(
                f"rewards.min_share_ppm={cfg.min_share_ppm} is above every contributor's share "
                f"(largest {float(max(weights.values()) * pool_ppm / total):.1f} ppm); lower it"
            )
        weights, total = kept, sum(kept.values())
    return {a: w / total for a, w in weights.items()}


def _checksum(address: Any, what: str) -> str:
    if not isinstance(address, str) or not is_address(address):
        raise ValidationError(
            f"{what} {address!r} is not an EVM address (0x + 40 hex digits, valid checksum if mixed case)"
        )
    return to_checksum_address(address)


# --- files ---------------------------------------------------------------------------------------


def verify_file(path: str | Path) -> list[str]:
    """Check a `rewards.json`: shares sum to 1,000,000, the root is the tree of its shares, every proof verifies.

    Returns the problems found (each naming the contributor where one is at fault); empty when it holds.
    """
    try:
        data = read_json(path)
    except FileNotFoundError:
        return [f"{path} does not exist"]
    except ValueError as e:
        return [f"{path} is not valid JSON: {e}"]
    if not isinstance(data, dict):
        return [f"{path} must hold a JSON object, not {type(data).__name__}"]
    problems = [f"{path} lacks key {k!r}" for k in ("run_id", "root", "shares") if k not in data]
    if problems:
        return problems
    if data.get("leaf_encoding", LEAF_ENCODING) != LEAF_ENCODING:
        problems.append(f"leaf_encoding is {data['leaf_encoding']}, expected {LEAF_ENCODING}")
    root = data["root"]
    shares = data["shares"]
    if not isinstance(shares, list) or not shares:
        return [*problems, "shares must be a non-empty list"]
    seen: dict[str, int] = {}
    parsed: list[tuple[str, int, list[str]]] = []
    for i, s in enumerate(shares):
        who = s.get("contributor") if isinstance(s, dict) else None
        if not isinstance(s, dict) or not isinstance(who, str) or not is_address(who):
            problems.append(f"shares[{i}]: contributor {who!r} is not an EVM address")
            continue
        ppm, proof = s.get("share_ppm"), s.get("proof")
        if not isinstance(ppm, int) or isinstance(ppm, bool) or not 0 <= ppm <= PPM:
            problems.append(f"contributor {who}: share_ppm {ppm!r} is not an integer in 0..{PPM}")
            continue
        if not isinstance(proof, list) or not all(isinstance(h, str) for h in proof):
            problems.append(f"contributor {who}: proof must be a list of 0x-hex hashes")
            continue
        addr = to_checksum_address(who)
        if addr in seen:
            problems.append(f"contributor {addr} appears twice (shares[{seen[addr]}] and shares[{i}])")
            continue
        seen[addr] = i
        parsed.append((addr, ppm, proof))
    total = sum(p for _, p, _ in parsed)
    if total != PPM:
        problems.append(f"shares sum to {total} ppm, expected exactly {PPM}")
    for addr, ppm, proof in parsed:
        if not verify_leaf(root, LEAF_ENCODING, [addr, ppm], proof):
            problems.append(f"contributor {addr}: proof of share_ppm={ppm} does not verify against root {root}")
    problems += _harm_problems(data.get("harm_ppm", {}), {a for a, _, _ in parsed})
    if parsed and len(parsed) == len(shares):
        recomputed = StandardMerkleTree([[a, p] for a, p, _ in parsed], LEAF_ENCODING).root_hex
        if recomputed != str(root).lower():
            problems.append(f"root {root} is not the Merkle root of the listed shares ({recomputed})")
    return problems


def _harm_problems(harm: Any, listed: set[str]) -> list[str]:
    """Problems with a rewards.json `harm_ppm` map {address: {record_id: positive int}}."""
    if not isinstance(harm, dict):
        return [f"harm_ppm must be an object {{address: {{record_id: ppm}}}}, not {type(harm).__name__}"]
    problems = []
    for who, records in harm.items():
        if not is_address(who) or to_checksum_address(who) not in listed:
            problems.append(f"harm_ppm names {who!r}, which has no share in the tree")
        elif not isinstance(records, dict) or not all(
            isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in records.values()
        ):
            problems.append(f"harm_ppm of {who} must map record ids to positive integers (ppm)")
    return problems


def share_diff_ppm(a: Rewards | Mapping[str, int], b: Rewards | Mapping[str, int]) -> int:
    """Largest absolute difference in ppm between two share sets (a contributor missing on one side has 0)."""
    da, db = (
        {to_checksum_address(k): int(v) for k, v in (x.as_dict() if isinstance(x, Rewards) else x).items()}
        for x in (a, b)
    )
    return max((abs(da.get(k, 0) - db.get(k, 0)) for k in da.keys() | db.keys()), default=0)


def payout_signals(
    table: Any,
    paid: Rewards,
    contributors: list[str],
    record_ids: list[str],
    near_duplicate_of: list[str | None],
    settlement: Mapping[str, Any] | None = None,
) -> Any:
    """`table` (a DataFrame, one row per contributor) plus the signals behind each payout: `harm_ppm` (what its
    harmful records owe from their stake), `net_ppm` (share minus harm), `near_copies` (its records flagged as
    near-copies) and `copied_from` (whose records those copy, by display name from `paid.names`); with the
    run's stake `settlement` (`olab.ledger.settlement.settle_run`), `stake_owed` (tokens of stake its harmful
    records put at risk under the rule) and `stake_slashed` (tokens settling took, never beyond its deposit).
    `contributors`, `record_ids`, `near_duplicate_of`: one entry per record."""
    from olab.names import name_of

    owner = dict(zip(record_ids, contributors, strict=True))
    copies: dict[str, dict[str, int]] = {}
    for who, original in zip(contributors, near_duplicate_of, strict=True):
        if original:
            mine = copies.setdefault(who.lower(), {})
            of = name_of(paid.names, owner[original])
            mine[of] = mine.get(of, 0) + 1
    net = {a.lower(): v for a, v in paid.net_ppm().items()}
    addresses = [str(a) for a in table["contributor"]]
    if settlement:
        for col, key in (("stake_owed", "owed"), ("stake_slashed", "slashed")):
            tokens = {str(a).lower(): int(v) for a, v in (settlement.get(key) or {}).items()}
            table = table.assign(**{col: [tokens.get(a.lower(), 0) for a in addresses]})
    return table.assign(
        harm_ppm=[paid.harm_ppm(a) if a.lower() in net else 0 for a in addresses],
        net_ppm=[net.get(a.lower(), 0) for a in addresses],
        near_copies=[sum(copies.get(a.lower(), {}).values()) for a in addresses],
        copied_from=[", ".join(f"{n} ({k})" for n, k in sorted(copies.get(a.lower(), {}).items())) for a in addresses],
    )


__all__ = [
    "LEAF_ENCODING",
    "POOL_REMAINDER",
    "PPM",
    "FeeSplit",
    "Rewards",
    "RewardsConfig",
    "Share",
    "StakeConfig",
    "compute",
    "from_shares",
    "largest_remainder",
    "payout_signals",
    "share_diff_ppm",
    "verify_file",
]
