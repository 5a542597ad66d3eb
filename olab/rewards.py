"""Contributor rewards: attribution -> integer shares in parts-per-million -> a reward Merkle tree.

The default policy follows OpenLedger's Proof of Attribution: only positive influence pays, and each
contributor's share is proportional to it. Influence is netted per contributor first: a contributor's
harmful records (negative influence, e.g. flipped labels) offset their helpful ones, and a contributor
whose data is harmful on balance earns nothing. Shares are integers that sum to exactly 1,000,000
(largest-remainder rounding over exact rationals, so the result does not depend on input order or
on float summation order). The tree is an OpenZeppelin `StandardMerkleTree` with leaves
`(address contributor, uint256 share_ppm)`, so `MerkleProof.sol` and OpenZeppelin's JS verify it.
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

# which column of the attribution stage's contributor table each policy reads
POLICY_COLUMN = {"positive_influence": "total", "positive_records": "positive"}


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


class RewardsConfig(Section):
    """The `rewards` section of a run config."""

    policy: Literal["positive_influence", "positive_records"] = Field(
        "positive_influence",
        description=(
            "positive_influence: only positive influence pays (OpenLedger's policy): shares proportional to each "
            "contributor's net influence, max(total, 0), so harmful records offset helpful ones. "
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
    if_all_zero: Literal["error", "equal_split"] = Field(
        "error",
        description="When no contributor has positive influence: 'error' stops the run, 'equal_split' pays all equally.",
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
    run_id: str | None = None  # the run these rewards were written for (set when read from rewards.json)

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
        return replace(from_shares(shares, data.get("policy", "unknown")), run_id=data["run_id"], names=names)

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


def compute(influence: Mapping[str, float] | Any, cfg: RewardsConfig | None = None) -> Rewards:
    """Turn per-contributor influence into ppm shares and their Merkle tree.

    `influence` is either a mapping {address: influence} (the quantity the policy reads) or the
    attribution stage's contributor table: a DataFrame with a `contributor` column and a `total`
    (policy positive_influence) or `positive` (policy positive_records) column. Negative values
    pay nothing; every contributor given is listed, with 0 if it earns nothing.
    """
    cfg = cfg or RewardsConfig()
    weights = _policy_weights(influence, cfg.policy)
    pool = _contributor_fractions(weights, cfg)
    parts = (
        cfg.split.parts()
        if cfg.split
        else {"developer": Fraction(0), "stakers": Fraction(0), "contributors": Fraction(1)}
    )
    payout = {addr: frac * parts["contributors"] for addr, frac in pool.items()}
    for role in ("developer", "stakers"):
        if parts[role] > 0:
            addr = getattr(cfg.split, f"{role}_address")
            payout[addr] = payout.get(addr, Fraction(0)) + parts[role]  # a developer who also contributed: one leaf
    return from_shares(largest_remainder(payout), cfg.policy)


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
        try:
            v = float(value)
        except (TypeError, ValueError):
            raise ValidationError(f"influence of contributor {addr} is {value!r}, not a number") from None
        if not math.isfinite(v):
            raise ValidationError(f"influence of contributor {addr} is {v}; expected a finite number")
        weights[addr] = Fraction(v) if v > 0 else Fraction(0)
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
    if parsed and len(parsed) == len(shares):
        recomputed = StandardMerkleTree([[a, p] for a, p, _ in parsed], LEAF_ENCODING).root_hex
        if recomputed != str(root).lower():
            problems.append(f"root {root} is not the Merkle root of the listed shares ({recomputed})")
    return problems


def share_diff_ppm(a: Rewards | Mapping[str, int], b: Rewards | Mapping[str, int]) -> int:
    """Largest absolute difference in ppm between two share sets (a contributor missing on one side has 0)."""
    da, db = (
        {to_checksum_address(k): int(v) for k, v in (x.as_dict() if isinstance(x, Rewards) else x).items()}
        for x in (a, b)
    )
    return max((abs(da.get(k, 0) - db.get(k, 0)) for k in da.keys() | db.keys()), default=0)


__all__ = [
    "LEAF_ENCODING",
    "PPM",
    "FeeSplit",
    "Rewards",
    "RewardsConfig",
    "Share",
    "compute",
    "from_shares",
    "largest_remainder",
    "share_diff_ppm",
    "verify_file",
]
