"""Signed contributions: a contributor signs a batch of records with EIP-712; olab recovers the signer.

Typed data (what a wallet shows and signs)::

    domain  = {name: <Datanet name>, version: "1", chainId: <chain id>}
    Contribution(bytes32 batchHash, uint256 recordCount, uint256 nonce)
    batchHash = keccak256(canonical JSON of the list of records)   # sorted keys, no spaces, UTF-8

The domain binds a signature to one Datanet on one chain; the nonce makes two batches with the same
records distinct, and a Datanet refuses a nonce (or a batch) it has already seen from that signer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from eth_account import Account
from eth_account.messages import SignableMessage, encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address

from olab.errors import ValidationError
from olab.hashing import canonical_json, keccak

DOMAIN_VERSION = "1"
TYPES = {
    "Contribution": [
        {"name": "batchHash", "type": "bytes32"},
        {"name": "recordCount", "type": "uint256"},
        {"name": "nonce", "type": "uint256"},
    ]
}


def batch_hash(records: Sequence[Mapping[str, Any]]) -> str:
    """keccak256 of the records' canonical JSON, as 0x-hex."""
    try:
        data = canonical_json([dict(r) for r in records])
    except (TypeError, ValueError) as e:
        raise ValidationError(f"a batch's records must be JSON values (strings, numbers, ...): {e}") from e
    return "0x" + keccak(data).hex()


def typed_data(datanet: str, chain_id: int, records: Sequence[Mapping[str, Any]], nonce: int) -> SignableMessage:
    """The EIP-712 message a contributor signs for `records`."""
    if not isinstance(nonce, int) or not 0 <= nonce < 1 << 256:
        raise ValidationError(f"nonce must be an integer in 0 .. 2**256-1, got {nonce!r}")
    return encode_typed_data(
        {"name": datanet, "version": DOMAIN_VERSION, "chainId": chain_id},
        TYPES,
        {"batchHash": bytes.fromhex(batch_hash(records)[2:]), "recordCount": len(records), "nonce": nonce},
    )


def _digest(message: SignableMessage) -> str:
    return "0x" + keccak(b"\x19" + message.version + message.header + message.body).hex()


@dataclass(frozen=True)
class SignedBatch:
    """A batch of records, the contributor it claims to come from, and that contributor's EIP-712 signature."""

    datanet: str
    chain_id: int
    contributor: str
    nonce: int
    records: list[dict[str, Any]] = field(default_factory=list)
    signature: str = ""

    @property
    def batch_hash(self) -> str:
        return batch_hash(self.records)

    @property
    def batch_id(self) -> str:
        """The EIP-712 digest (0x-hex): unique per Datanet, chain, records and nonce."""
        return _digest(typed_data(self.datanet, self.chain_id, self.records, self.nonce))

    def recover(self) -> str:
        """The address that signed this batch (raises ValidationError if the signature is malformed)."""
        try:
            return Account.recover_message(
                typed_data(self.datanet, self.chain_id, self.records, self.nonce), signature=self.signature
            )
        except ValidationError:
            raise
        except Exception as e:  # eth_keys raises several types for malformed signatures
            raise ValidationError(f"signature {self.signature[:20]!r}... is not a valid 65-byte signature: {e}") from e

    def to_json(self) -> dict[str, Any]:
        return {
            "datanet": self.datanet,
            "chain_id": self.chain_id,
            "contributor": self.contributor,
            "nonce": self.nonce,
            "records": self.records,
            "signature": self.signature,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SignedBatch:
        """Read `to_json()`'s form (a ValidationError names the keys it lacks)."""
        missing = [k for k in ("datanet", "chain_id", "contributor", "nonce", "records", "signature") if k not in data]
        if missing:
            raise ValidationError(f"a signed batch needs the keys {missing} as well; it has {sorted(data)}")
        return cls(
            data["datanet"],
            data["chain_id"],
            data["contributor"],
            data["nonce"],
            list(data["records"]),
            data["signature"],
        )


def sign_batch(
    account: LocalAccount, datanet_name: str, chain_id: int, records: Sequence[Mapping[str, Any]], nonce: int
) -> SignedBatch:
    """Sign `records` for the Datanet `datanet_name` on `chain_id` with `account`'s key."""
    message = typed_data(datanet_name, chain_id, records, nonce)
    signed = account.sign_message(message)
    return SignedBatch(
        datanet_name, chain_id, account.address, nonce, [dict(r) for r in records], "0x" + signed.signature.hex()
    )


def signature_problem(batch: SignedBatch, datanet: str, chain_id: int) -> str | None:
    """None when `batch` is signed by its claimed contributor for this Datanet and chain, else the reason."""
    if batch.datanet != datanet:
        return f"batch is signed for Datanet {batch.datanet!r}, not {datanet!r}"
    if batch.chain_id != chain_id:
        return f"batch is signed for chain id {batch.chain_id}, but this Datanet's chain id is {chain_id}"
    try:
        claimed = to_checksum_address(batch.contributor)
    except (TypeError, ValueError):
        return f"claimed contributor {batch.contributor!r} is not an address"
    try:
        signer = batch.recover()
    except ValidationError as e:
        return f"bad signature: {e}"
    if signer != claimed:
        return (
            f"bad signature: it recovers {signer}, not the claimed contributor {claimed} "
            "(signed by another key, or the records, nonce or domain changed after signing)"
        )
    return None
