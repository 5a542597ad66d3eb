"""The `chain` config section: which EVM the ledger talks to, and how it signs and waits."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_serializer, field_validator, model_validator

from olab.config import Section
from olab.secrets import looks_like_private_key, redacted_url

# OpenLedger's testnet (an OP-stack L2); anvil and the Datanets' signature domain default to it
OPENLEDGER_TESTNET_CHAIN_ID = 161201
# Known public chains: RPC endpoint, chain id and block explorer (per ethereum-lists/chains).
PRESETS: dict[str, dict[str, str | int]] = {
    "openledger-testnet": {
        "rpc_url": "https://rpctn.openledger.xyz",
        "chain_id": OPENLEDGER_TESTNET_CHAIN_ID,
        "explorer": "https://scantn.openledger.xyz",
    },
    "sepolia": {
        "rpc_url": "https://ethereum-sepolia-rpc.publicnode.com",
        "chain_id": 11155111,
        "explorer": "https://sepolia.etherscan.io",
    },
}


class AnvilConfig(Section):
    """A local Foundry anvil node started by `olab chain up`."""

    host: str = Field("127.0.0.1", description="Interface anvil listens on; loopback only (127.0.0.1 or localhost).")
    port: int = Field(8545, ge=1, le=65535, description="TCP port anvil listens on.")
    chain_id: int = Field(
        OPENLEDGER_TESTNET_CHAIN_ID,
        ge=1,
        description="Chain id anvil runs with; OpenLedger's testnet's, so anvil stands in for it offline.",
    )
    state_interval_s: int = Field(
        1, ge=1, description="Seconds between anvil's dumps of its state file (it also dumps on a clean stop)."
    )
    start_timeout_s: float = Field(20.0, gt=0, description="Seconds `olab chain up` waits for anvil to answer.")

    @model_validator(mode="after")
    def _loopback_only(self) -> AnvilConfig:
        if self.host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError(f"anvil.host must be a loopback address (127.0.0.1, localhost or ::1), not {self.host!r}")
        return self


class ChainConfig(Section):
    """Where run commitments, Datanet versions, reward claims and attestations are recorded."""

    backend: Literal["embedded", "anvil", "rpc"] = Field(
        "embedded",
        description="embedded: an in-process EVM (py-evm) persisted under state_dir, zero set-up; "
        "anvil: the local node `olab chain up` starts; rpc: any EVM node at rpc_url (a testnet).",
    )
    preset: Literal["openledger-testnet", "sepolia"] | None = Field(
        None,
        description="A known public chain for the rpc backend: fills rpc_url, chain_id and the explorer. "
        "openledger-testnet is chain id 161201 at https://rpctn.openledger.xyz.",
    )
    rpc_url: str | None = Field(
        None,
        description="JSON-RPC endpoint. rpc: required unless a preset gives it; anvil: defaults to the node "
        "recorded by `olab chain up` under state_dir, else http://<anvil.host>:<anvil.port>.",
    )
    chain_id: int | None = Field(
        None, ge=1, description="Chain id the node must report (rpc); None accepts the node's (or the preset's)."
    )
    explorer: str | None = Field(
        None, description="Block explorer base URL for transaction links on an rpc chain (a preset fills it)."
    )
    key_env: str = Field(
        "OLAB_PRIVATE_KEY",
        description="Environment variable holding the signing key (0x-hex). Used by rpc and anvil; the embedded "
        "chain signs with its deterministic development accounts. The key is never written anywhere.",
    )
    keystore: str | None = Field(
        None, description="Path to an encrypted JSON keystore (geth/web3 v3 format), used when key_env is unset."
    )
    keystore_password_env: str = Field(
        "OLAB_KEYSTORE_PASSWORD", description="Environment variable holding the keystore's password."
    )
    dev_account: int = Field(
        0,
        ge=0,
        le=9,
        description="Index of the development account (the public 'test test ... junk' mnemonic, the same accounts "
        "as anvil's) that signs on embedded and anvil chains when no key is given.",
    )
    state_dir: str = Field(
        ".olab/chain",
        description="Directory for the embedded chain's journal, anvil's state file and pid, and the deployments "
        "file (contract addresses per chain id). Never holds key material.",
    )
    auto_deploy: bool = Field(
        True, description="Deploy the contracts when none are recorded for this chain (or the recorded ones are gone)."
    )
    timeout_s: float = Field(30.0, gt=0, description="Seconds before one HTTP request to the node times out.")
    receipt_timeout_s: float = Field(
        180.0, gt=0, description="Seconds to wait for a sent transaction to be mined before giving up."
    )
    poll_interval_s: float = Field(0.5, gt=0, description="Seconds between receipt polls while waiting.")
    retries: int = Field(4, ge=1, description="Attempts per node request on transient errors (connection, 429, 5xx).")
    retry_backoff_s: float = Field(0.25, ge=0, description="First retry delay in seconds; doubles each attempt.")
    gas_multiplier: float = Field(1.2, ge=1.0, description="Gas limit = the node's estimate times this margin.")
    priority_fee_gwei: float | None = Field(
        None, ge=0, description="EIP-1559 tip per gas in gwei; None asks the node (eth_maxPriorityFeePerGas)."
    )
    anvil: AnvilConfig = Field(default_factory=AnvilConfig, description="The local anvil node (backend: anvil).")

    @field_serializer("rpc_url", "explorer", when_used="json")
    def _without_credentials(self, url: str | None) -> str | None:
        """Configs written into artifacts (manifests) never hold a URL's user:password."""
        return redacted_url(url)

    @field_validator("key_env", "keystore_password_env")
    @classmethod
    def _an_env_var_name(cls, name: str) -> str:
        if looks_like_private_key(name):
            raise ValueError(
                "names an environment variable, but this value looks like a private key itself (not shown): "
                "put the key in that variable (default OLAB_PRIVATE_KEY), never in a config or on the command line"
            )
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise ValueError("must be an environment variable name (letters, digits and _, not starting with a digit)")
        return name

    @model_validator(mode="after")
    def _check_backend(self) -> ChainConfig:
        if self.preset is not None:
            if self.backend != "rpc":
                raise ValueError(
                    f"preset {self.preset!r} names a public chain: set backend: rpc (got {self.backend!r})"
                )
            expected = PRESETS[self.preset]["chain_id"]
            if self.chain_id is not None and self.chain_id != expected:
                raise ValueError(f"chain_id {self.chain_id} contradicts preset {self.preset!r} (chain id {expected})")
        if self.backend == "rpc" and self.rpc_url is None and self.preset is None:
            raise ValueError("backend 'rpc' needs rpc_url (a JSON-RPC endpoint) or a preset")
        return self

    def resolved_rpc_url(self) -> str | None:
        """The endpoint for rpc (config or preset); None for other backends."""
        if self.backend != "rpc":
            return self.rpc_url
        return self.rpc_url or str(PRESETS[self.preset]["rpc_url"])  # type: ignore[index]

    def expected_chain_id(self) -> int | None:
        """The chain id the node must report: chain_id, else the preset's; None accepts any."""
        if self.chain_id is not None:
            return self.chain_id
        if self.preset is not None:
            return int(PRESETS[self.preset]["chain_id"])
        return None

    def explorer_base(self, chain_id: int) -> str | None:
        """Explorer base URL for a public chain; None for local chains (embedded, anvil)."""
        if self.backend != "rpc":
            return None
        if self.explorer:
            return self.explorer.rstrip("/")
        for preset in PRESETS.values():
            if preset["chain_id"] == chain_id:
                return str(preset["explorer"])
        return None
