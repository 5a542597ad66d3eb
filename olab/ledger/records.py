"""What the ledger takes and returns: a run's commitment, a transaction's result, value checks."""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, fields
from typing import Any

from eth_utils import is_address, to_checksum_address

from olab.errors import LedgerError
from olab.rewards import PPM

_HEX64 = re.compile(r"[0-9a-fA-F]{64}")
MAX_URI_BYTES = 256  # DatanetRegistry.vy stores a version's uri as String[256]


def to_bytes32(value: Any, field: str) -> bytes:
    """bytes32 from 32 raw bytes, a 0x-hex string, or an olab "sha256:<hex>" hash."""
    if isinstance(value, bytes | bytearray) and len(value) == 32:
        return bytes(value)
    if isinstance(value, str):
        body = value[2:] if value[:2] in ("0x", "0X") else value[7:] if value.startswith("sha256:") else None
        if body is not None and _HEX64.fullmatch(body):
            return bytes.fromhex(body)
    raise LedgerError(f"{field}: expected a 32-byte hash as 0x<64 hex> or sha256:<64 hex>, got {value!r}")


def hex32(value: bytes) -> str:
    return "0x" + bytes(value).hex()


def to_address(value: Any, field: str) -> str:
    """A checksummed address, or LedgerError naming the field."""
    if isinstance(value, bytes | bytearray) and len(value) == 20:
        return to_checksum_address(bytes(value))
    if isinstance(value, str) and is_address(value):
        return to_checksum_address(value)
    raise LedgerError(f"{field}: expected an address (0x followed by 40 hex digits), got {value!r}")


def to_ppm(value: Any, field: str) -> int:
    """An integer in [0, PPM] (parts per million)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= PPM:
        raise LedgerError(f"{field}: expected an integer number of parts per million in 0..{PPM}, got {value!r}")
    return value


def rank_corr_to_ppm(value: Any) -> int:
    """A rank correlation in [-1, 1] as the contract's signed parts per million."""
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value) or not -1 <= value <= 1:
        raise LedgerError(f"rank_corr: expected a correlation in [-1, 1], got {value!r}")
    return round(value * PPM)


COMMITMENT_FIELDS = ("run_id", "datanet_root", "adapter_hash", "scores_hash", "rewards_root", "manifest_hash")


@dataclass(frozen=True)
class RunCommitment:
    """What a run commits to on chain. Each field takes 0x-hex bytes32 or "sha256:<hex>"; stored as 0x-hex."""

    run_id: str
    datanet_root: str
    adapter_hash: str
    scores_hash: str
    rewards_root: str
    manifest_hash: str

    def __post_init__(self) -> None:
        for f in fields(self):
            object.__setattr__(self, f.name, hex32(to_bytes32(getattr(self, f.name), f"RunCommitment.{f.name}")))

    def as_bytes(self) -> dict[str, bytes]:
        return {name: bytes.fromhex(getattr(self, name)[2:]) for name in COMMITMENT_FIELDS}

    def to_json(self) -> dict[str, str]:
        return asdict(self)


@dataclass(frozen=True)
class TxResult:
    """The outcome of one transaction, as recorded in a run's manifest.

    `already_recorded` is True when the call found its record already on chain; `tx_hash` is then
    the transaction that first wrote it.
    """

    tx_hash: str
    block: int
    gas_used: int
    status: int
    explorer_url: str | None = None
    already_recorded: bool = False
    note: str | None = None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict for manifests."""
        return asdict(self)
