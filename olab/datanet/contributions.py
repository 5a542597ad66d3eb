"""Signed contributions: a contributor signs a batch of records with EIP-712; olab recovers the signer.

Typed data (what a wallet shows and signs)::

    domain  = {name: <Datanet name>, version: "2", chainId: <chain id>, salt: <genesis root>}
    Contribution(bytes32 batchHash, uint256 recordCount, uint256 nonce)
    batchHash = keccak256(canonical JSON of the list of records)   # sorted keys, no spaces, UTF-8

The domain binds a signature to one Datanet on one chain: its name, and its genesis root (the Merkle
root of its version 1), so another Datanet that happens to share the name does not accept the batch.
The nonce makes two batches with the same records distinct, and a Datanet refuses a nonce (or a batch)
it has already seen from that signer.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from eth_account import Account
from eth_account.messages import SignableMessage, encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address

from olab.datanet.contributors import address_problem, is_address
from olab.errors import ValidationError
from olab.hashing import canonical_json, keccak

DOMAIN_VERSION = "2"  # 2: the salt binds the Datanet's genesis root
FIELDS = ("datanet", "chain_id", "genesis_root", "contributor", "nonce", "records", "signature")
_BYTES32 = re.compile(r"^0x[0-9a-fA-F]{64}$")
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


def typed_data(
    datanet: str, chain_id: int, genesis_root: str, records: Sequence[Mapping[str, Any]], nonce: int
) -> SignableMessage:
    """The EIP-712 message a contributor signs for `records`."""
    if not isinstance(nonce, int) or not 0 <= nonce < 1 << 256:
        raise ValidationError(f"nonce must be an integer in 0 .. 2**256-1, got {nonce!r}")
    if not isinstance(genesis_root, str) or not _BYTES32.match(genesis_root):
        raise ValidationError(f"genesis_root must be 0x and 64 hex digits (a Merkle root), got {genesis_root!r:.80}")
    return encode_typed_data(
        {"name": datanet, "version": DOMAIN_VERSION, "chainId": chain_id, "salt": bytes.fromhex(genesis_root[2:])},
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
    genesis_root: str
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
        return _digest(self._message())

    def _message(self) -> SignableMessage:
        return typed_data(self.datanet, self.chain_id, self.genesis_root, self.records, self.nonce)

    def recover(self) -> str:
        """The address that signed this batch (raises ValidationError if the signature is malformed)."""
        try:
            return Account.recover_message(self._message(), signature=self.signature)
        except ValidationError:
            raise
        except Exception as e:  # eth_keys raises several types for malformed signatures
            raise ValidationError(f"signature {self.signature[:20]!r}... is not a valid 65-byte signature: {e}") from e

    def to_json(self) -> dict[str, Any]:
        return {
            "datanet": self.datanet,
            "chain_id": self.chain_id,
            "genesis_root": self.genesis_root,
            "contributor": self.contributor,
            "nonce": self.nonce,
            "records": self.records,
            "signature": self.signature,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SignedBatch:
        """Read `to_json()`'s form (a ValidationError names the keys it lacks)."""
        if not isinstance(data, Mapping):
            raise ValidationError(
                f"a signed batch is a SignedBatch or its to_json() mapping, not a {type(data).__name__}"
            )
        missing = [k for k in FIELDS if k not in data]
        if missing:
            raise ValidationError(f"a signed batch needs the keys {missing} as well; it has {sorted(data)}")
        if not isinstance(data["records"], list | tuple):
            raise ValidationError(f"a signed batch's records must be a list, got {type(data['records']).__name__}")
        return cls(
            data["datanet"],
            data["chain_id"],
            data["genesis_root"],
            data["contributor"],
            data["nonce"],
            list(data["records"]),
            data["signature"],
        )


def domain_of(datanet: Any) -> dict[str, Any]:
    """The signing domain {datanet, chain_id, genesis_root} of a Datanet (or such a mapping, as given)."""
    if isinstance(datanet, Mapping):
        missing = [k for k in ("datanet", "chain_id", "genesis_root") if k not in datanet]
        if missing:
            raise ValidationError(f"a signing domain needs the keys {missing}; it has {sorted(datanet)}")
        return dict(datanet)
    domain = getattr(datanet, "signing_domain", None)
    if domain is None:
        raise ValidationError(
            f"sign for a Datanet (or its `signing_domain` mapping), not a {type(datanet).__name__}: the signature "
            "binds the Datanet's genesis root as well as its name and chain id"
        )
    return dict(domain)


def sign_batch(account: LocalAccount, datanet: Any, records: Sequence[Mapping[str, Any]], nonce: int) -> SignedBatch:
    """Sign `records` for `datanet` (a Datanet, or its `signing_domain` mapping) with `account`'s key."""
    d = domain_of(datanet)
    records = [dict(r) for r in records]
    unsigned = SignedBatch(d["datanet"], d["chain_id"], d["genesis_root"], account.address, nonce, records)
    signed = account.sign_message(unsigned._message())
    return dataclasses.replace(unsigned, signature="0x" + signed.signature.hex())


def signature_problem(batch: SignedBatch, domain: Mapping[str, Any]) -> str | None:
    """None when `batch` is signed by its claimed contributor for this Datanet and chain, else the reason."""
    name, chain_id, genesis = domain["datanet"], domain["chain_id"], domain["genesis_root"]
    if batch.datanet != name:
        return f"batch is signed for Datanet {batch.datanet!r}, not {name!r}"
    if batch.chain_id != chain_id:
        return f"batch is signed for chain id {batch.chain_id}, but this Datanet's chain id is {chain_id}"
    if str(batch.genesis_root).lower() != genesis.lower():
        return (
            f"batch is signed for another Datanet named {name!r} (genesis root {batch.genesis_root!r:.80}), "
            f"not this one (genesis root {genesis})"
        )
    if (
        not isinstance(batch.contributor, str)
        or not is_address(batch.contributor)
        or address_problem(batch.contributor)
    ):
        return f"claimed contributor {batch.contributor!r:.80} is not an address (0x and 40 hex digits, EIP-55 if mixed case)"
    claimed = to_checksum_address(batch.contributor)
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
