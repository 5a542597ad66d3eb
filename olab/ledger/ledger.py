"""`Ledger`: publish and check olab's commitments on an EVM chain.

One object per chain: it deploys the contracts (or attaches to the recorded ones) and offers one
method per thing a user does: register a Datanet version, publish a run, verify it, check a
contributor's share, fund a reward pool, claim, stake, settle (slash) and withdraw, attest. Writes return a `TxResult` for the run's
manifest; refusals by a contract raise `LedgerError` with the contract's reason.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from eth_abi import encode as abi_encode
from eth_account.signers.local import LocalAccount
from web3.contract import Contract
from web3.exceptions import TransactionNotFound
from web3.logs import DISCARD

from olab.errors import LedgerError
from olab.hashing import keccak
from olab.ledger import accounts
from olab.ledger.chain import Chain, NodeChain
from olab.ledger.config import ChainConfig
from olab.ledger.contracts import CONTRACT_NAMES, compiled
from olab.ledger.deploy import attach_or_deploy, code_matches
from olab.ledger.records import (
    COMMITMENT_FIELDS,
    MAX_URI_BYTES,
    RunCommitment,
    TxResult,
    hex32,
    rank_corr_to_ppm,
    to_address,
    to_bytes32,
    to_ppm,
)
from olab.merkle import StandardMerkleTree
from olab.rewards import LEAF_ENCODING, PPM

log = logging.getLogger("olab.ledger")

MAX_PROOF_LENGTH = 64  # the contracts' DynArray bound: trees of up to 2**64 leaves
ZERO32 = b"\x00" * 32


def open_chain(cfg: ChainConfig) -> Chain:
    """Connect to the chain the config names (the embedded chain is opened from its journal)."""
    if cfg.backend == "embedded":
        from olab.ledger.embedded import EmbeddedChain

        return EmbeddedChain(cfg)
    if cfg.backend == "anvil":
        from olab.ledger.anvil import node_url

        return NodeChain(cfg, cfg.rpc_url or node_url(cfg), "anvil")
    return NodeChain(cfg, cfg.resolved_rpc_url() or "", "rpc")


class Ledger:
    """olab's contracts on one chain, and a signer for writes.

    `Ledger()` opens the embedded chain under `.olab/chain`; pass a `ChainConfig` for anvil or a
    testnet, `addresses` to attach to a specific deployment (e.g. the one a run's manifest names),
    and `signer` (a development-account index on local chains, or an eth-account) to sign as
    someone else.
    """

    def __init__(
        self,
        cfg: ChainConfig | None = None,
        *,
        addresses: dict[str, str] | None = None,
        signer: int | LocalAccount | None = None,
        _chain: Chain | None = None,
    ):
        self.cfg = cfg or ChainConfig()
        self.chain = _chain or open_chain(self.cfg)
        self._signer = self._resolve_signer(signer)
        if addresses is not None:
            addresses = {k: to_address(v, f"addresses.{k}") for k, v in addresses.items()}
            wrong = code_matches(self.chain, addresses)
            if wrong:
                hint = f" (the embedded chain is the one in {self.cfg.state_dir}: is it where the run was published?)"
                raise LedgerError(
                    f"the given addresses do not hold olab's contracts on chain {self.chain_id}: {', '.join(wrong)}"
                    + (hint if self.backend == "embedded" else "")
                )
        else:
            addresses = attach_or_deploy(self.chain, self.cfg, self._require_signer)
        self._addresses = addresses
        self._c: dict[str, Contract] = {
            name: self.chain.w3.eth.contract(address=addresses[name], abi=compiled(name).abi) for name in CONTRACT_NAMES
        }

    @classmethod
    def from_config(cls, cfg: ChainConfig | None = None, **kwargs: Any) -> Ledger:
        """Open the chain `cfg` names and deploy the contracts there, or attach to the recorded ones."""
        return cls(cfg, **kwargs)

    @classmethod
    def existing(cls, cfg: ChainConfig | None = None) -> Ledger | None:
        """The ledger on the chain `cfg` names if olab's contracts are live there, else None; never deploys (what
        `olab verify` reads: where no contracts were deployed, nothing was published)."""
        from olab.ledger.deploy import deployments_path

        cfg = (cfg or ChainConfig()).model_copy(update={"auto_deploy": False})
        if cfg.backend == "embedded" and not deployments_path(cfg).is_file():
            return None  # opening the embedded chain would create it
        try:
            return cls(cfg)
        except LedgerError as e:
            if "no live olab contracts" in str(e):
                return None
            raise

    def with_signer(self, signer: int | LocalAccount) -> Ledger:
        """The same chain and contracts, signing as `signer` (a dev-account index on local chains)."""
        other = copy.copy(self)
        other._signer = self._resolve_signer(signer)
        return other

    def close(self) -> None:
        self.chain.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- what it is connected to ------------------------------------------------------------------

    @property
    def chain_id(self) -> int:
        return self.chain.chain_id

    @property
    def backend(self) -> str:
        return self.chain.backend

    @property
    def addresses(self) -> dict[str, str]:
        return dict(self._addresses)

    @property
    def account(self) -> str:
        """The signer's address."""
        return self._require_signer().address

    def contract(self, name: str) -> Contract:
        """The web3 contract object for one of CONTRACT_NAMES (for calls this class does not wrap)."""
        if name not in self._c:
            raise LedgerError(f"unknown contract {name!r}; olab deploys {', '.join(CONTRACT_NAMES)}")
        return self._c[name]

    def transact(self, call: Any, what: str) -> TxResult:
        """Sign and send any contract call (e.g. `ledger.contract("TestToken").functions.transfer(to, n)`),
        with the same gas, fee, revert and receipt handling as every other write."""
        return self._send(call, what)

    def explorer_url(self, tx_hash: str) -> str | None:
        """A link to the transaction on the chain's block explorer (None for local chains)."""
        base = self.cfg.explorer_base(self.chain_id)
        return f"{base}/tx/{tx_hash}" if base else None

    def __repr__(self) -> str:
        return f"Ledger(backend={self.backend!r}, chain_id={self.chain_id}, addresses={self._addresses})"

    # --- Datanets ---------------------------------------------------------------------------------

    def register_datanet_version(
        self,
        name: str,
        version: int,
        root: str | bytes,
        parent_root: str | bytes | None,
        record_count: int,
        contributor_count: int,
        metadata_hash: str | bytes | None,
        uri: str = "",
        registrant: str | None = None,
    ) -> TxResult:
        """Record a Datanet version (registering the Datanet, owned by the signer, on first use).

        A Datanet is identified by the address that registered it and its name (`datanet_id`);
        `registrant` defaults to the signer (a curator, or an owner it was transferred to, names it).
        Idempotent: the same version with the same values returns the original transaction;
        different values raise LedgerError naming them.
        """
        _check_text(name, "name", 64, nonempty=True)
        _check_text(uri, "uri", MAX_URI_BYTES)
        for value, field in (
            (version, "version"),
            (record_count, "record_count"),
            (contributor_count, "contributor_count"),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise LedgerError(f"register_datanet_version: {field} must be a non-negative integer, got {value!r}")
        want = {
            "root": to_bytes32(root, "root"),
            "parent_root": ZERO32 if parent_root is None else to_bytes32(parent_root, "parent_root"),
            "record_count": record_count,
            "contributor_count": contributor_count,
            "metadata_hash": ZERO32 if metadata_hash is None else to_bytes32(metadata_hash, "metadata_hash"),
            "uri": uri,
        }
        registrant = self._registrant(registrant)
        datanet_id = self.datanet_id(name, registrant)
        existing = self.datanet_version(name, version, registrant)
        what = f"DatanetRegistry.appendVersion({name!r}, version {version})"
        if existing is not None:
            shown = {k: hex32(v) if isinstance(v, bytes) else v for k, v in want.items()}
            diff = [f"{k} (on chain {existing[k]!r}, given {shown[k]!r})" for k in want if existing[k] != shown[k]]
            if diff:
                raise LedgerError(
                    f"datanet {name!r} version {version} is already recorded on chain {self.chain_id} with different "
                    f"values: {'; '.join(diff)}. A recorded version never changes: register a new version"
                )
            ev = self._c["DatanetRegistry"].events.VersionAppended()
            return self._original(ev, existing["block"], {"datanetId": datanet_id, "version": version}, what)
        notes = []
        if registrant == self.account and (reg := self.register_datanet(name)) is not None:
            notes.append(f"registered datanet {name!r} (owner {self.account}) in tx {reg.tx_hash}")
        fn = self._c["DatanetRegistry"].functions.appendVersion(
            datanet_id,
            version,
            want["root"],
            want["parent_root"],
            record_count,
            contributor_count,
            want["metadata_hash"],
            uri,
        )
        try:
            result = self._send(fn, what)
        except LedgerError:
            if self.datanet_version(name, version, registrant) is None:
                raise
            # another publisher recorded this version between the check above and this transaction
            return self.register_datanet_version(
                name, version, root, parent_root, record_count, contributor_count, metadata_hash, uri, registrant
            )
        return _with_note(result, "; ".join(notes) or None)

    def register_datanet(self, name: str) -> TxResult | None:
        """Register Datanet `name` owned by the signer (None when it already is): contributors can then
        stake behind it before its first version is recorded."""
        _check_text(name, "name", 64, nonempty=True)
        if self.datanet_owner(name) is not None:
            return None
        try:
            return self._send(
                self._c["DatanetRegistry"].functions.registerDatanet(name), f"DatanetRegistry.registerDatanet({name!r})"
            )
        except LedgerError:
            if self.datanet_owner(name) != self.account:  # not this account registering concurrently
                raise
            return None

    @staticmethod
    def datanet_id(name: str, registrant: str) -> bytes:
        """The registry id of Datanet `name` registered by `registrant`: keccak256(abi.encode(registrant, name))."""
        return keccak(abi_encode(["address", "string"], [to_address(registrant, "registrant"), name]))

    def _registrant(self, registrant: str | None) -> str:
        return self.account if registrant is None else to_address(registrant, "registrant")

    def datanet_version(self, name: str, version: int, registrant: str | None = None) -> dict[str, Any] | None:
        """A recorded Datanet version as a dict, or None when it is not on chain (`registrant`: see
        `register_datanet_version`)."""
        datanet_id = self.datanet_id(name, self._registrant(registrant))
        v = self._read(
            f"reading datanet {name!r} version {version}",
            self._c["DatanetRegistry"].functions.getVersion(datanet_id, version).call,
        )
        if v[0] == ZERO32:
            return None
        return {
            "name": name,
            "datanet_id": hex32(datanet_id),
            "version": version,
            "root": hex32(v[0]),
            "parent_root": hex32(v[1]),
            "record_count": v[2],
            "contributor_count": v[3],
            "metadata_hash": hex32(v[4]),
            "uri": v[5],
            "appended_by": v[6],
            "timestamp": v[7],
            "block": v[8],
        }

    def datanet_owner(self, name: str, registrant: str | None = None) -> str | None:
        """The current owner of Datanet `name` registered by `registrant` (default: the signer), or None."""
        datanet_id = self.datanet_id(name, self._registrant(registrant))
        owner = self._read("reading the datanet owner", self._c["DatanetRegistry"].functions.ownerOf(datanet_id).call)
        return None if int(owner, 16) == 0 else owner

    def set_curator(self, name: str, curator: str, allowed: bool = True, registrant: str | None = None) -> TxResult:
        """Let `curator` append versions to Datanet `name` (or stop it); the Datanet's owner only."""
        curator = to_address(curator, "curator")
        datanet_id = self.datanet_id(name, self._registrant(registrant))
        fn = self._c["DatanetRegistry"].functions.setCurator(datanet_id, curator, allowed)
        return self._send(fn, f"DatanetRegistry.setCurator({name!r}, {curator}, {allowed})")

    # --- runs ---------------------------------------------------------------------------------------

    def publish_run(self, c: RunCommitment) -> TxResult:
        """Publish a run's commitment. Idempotent: returns the original tx when the same record is
        already on chain; raises LedgerError naming the fields when a different one is."""
        what = f"AttributionRegistry.publishRun(run {c.run_id})"
        mismatches = self.verify_run(c)
        if not mismatches:
            run = self.get_run(c.run_id)
            ev = self._c["AttributionRegistry"].events.RunPublished()
            return self._original(ev, run["block"], {"runId": to_bytes32(c.run_id, "run_id")}, what)
        if self.is_published(c.run_id):
            raise LedgerError(
                f"run {c.run_id} is already published on chain {self.chain_id} with different values: "
                + "; ".join(mismatches)
                + ". A published run never changes"
            )
        b = c.as_bytes()
        fn = self._c["AttributionRegistry"].functions.publishRun(*(b[f] for f in COMMITMENT_FIELDS))
        try:
            return self._send(fn, what)
        except LedgerError:
            if not self.is_published(c.run_id):
                raise
            return self.publish_run(c)  # published concurrently: the same record is idempotent, another is refused

    def is_published(self, run_id: str | bytes) -> bool:
        rid = to_bytes32(run_id, "run_id")
        return self._read("reading a run", self._c["AttributionRegistry"].functions.isPublished(rid).call)

    def get_run(self, run_id: str | bytes) -> dict[str, Any]:
        """The published record of a run (LedgerError when it is not published)."""
        rid = to_bytes32(run_id, "run_id")
        r = self._read(f"reading run {hex32(rid)}", self._c["AttributionRegistry"].functions.getRun(rid).call)
        if int(r[5], 16) == 0:
            raise LedgerError(
                f"run {hex32(rid)} is not published on chain {self.chain_id} "
                f"(AttributionRegistry {self._addresses['AttributionRegistry']})"
            )
        return {
            "run_id": hex32(rid),
            "datanet_root": hex32(r[0]),
            "adapter_hash": hex32(r[1]),
            "scores_hash": hex32(r[2]),
            "rewards_root": hex32(r[3]),
            "manifest_hash": hex32(r[4]),
            "publisher": r[5],
            "published_at": r[6],
            "block": r[7],
        }

    def verify_run(self, c: RunCommitment) -> list[str]:
        """Differences between the on-chain record and `c`: empty when they agree."""
        if not self.is_published(c.run_id):
            return [
                f"run_id: run {c.run_id} is not published on chain {self.chain_id} "
                f"(AttributionRegistry {self._addresses['AttributionRegistry']})"
            ]
        on_chain = self.get_run(c.run_id)
        expected = c.to_json()
        return [
            f"{f}: on-chain {on_chain[f]} but expected {expected[f]}"
            for f in COMMITMENT_FIELDS[1:]
            if on_chain[f] != expected[f]
        ]

    def versions_with_root(self, root: str) -> list[dict[str, Any]]:
        """Every Datanet version registered on this chain with Merkle root `root` (from its events): datanet_id,
        version, metadata_hash, appended_by, block."""
        event = self._c["DatanetRegistry"].events.VersionAppended()
        logs = self._read(
            "reading the Datanet versions with a root",
            lambda: event.get_logs(from_block=0, argument_filters={"root": to_bytes32(root, "root")}),
        )
        return [
            {"datanet_id": hex32(log["args"]["datanetId"]), "version": log["args"]["version"],
             "metadata_hash": hex32(log["args"]["metadataHash"]), "appended_by": log["args"]["appendedBy"],
             "block": log["blockNumber"]}
            for log in logs
        ]  # fmt: skip

    def runs_published_on(self, datanet_root: str) -> list[dict[str, Any]]:
        """Every run published on this chain's registry over the Datanet root `datanet_root` (from its events):
        run_id, adapter_hash, scores_hash, rewards_root, manifest_hash, publisher, block, tx_hash."""
        event = self._c["AttributionRegistry"].events.RunPublished()
        root = to_bytes32(datanet_root, "datanet_root")
        logs = self._read(
            "reading the runs published on a Datanet root",
            lambda: event.get_logs(from_block=0, argument_filters={"datanetRoot": root}),
        )
        fields = {"runId": "run_id", "adapterHash": "adapter_hash", "scoresHash": "scores_hash",
                  "rewardsRoot": "rewards_root", "manifestHash": "manifest_hash"}  # fmt: skip
        return [
            {name: hex32(log["args"][arg]) for arg, name in fields.items()}
            | {
                "publisher": log["args"]["publisher"],
                "block": log["blockNumber"],
                "tx_hash": "0x" + bytes(log["transactionHash"]).hex(),
            }
            for log in logs
        ]

    def receipt(self, tx_hash: str) -> Any:
        """The receipt of transaction `tx_hash` (LedgerError when this chain has none)."""
        try:
            return self._read(
                f"reading the receipt of {tx_hash}", lambda: self.chain.w3.eth.get_transaction_receipt(tx_hash)
            )
        except (TransactionNotFound, ValueError) as e:  # ValueError: not a transaction hash
            raise LedgerError(f"transaction {tx_hash} is not on chain {self.chain_id} ({type(e).__name__})") from None

    def set_publisher(self, publisher: str, allowed: bool = True) -> TxResult:
        """Authorise (or stop) an address publishing runs; the registry owner only."""
        publisher = to_address(publisher, "publisher")
        fn = self._c["AttributionRegistry"].functions.setPublisher(publisher, allowed)
        return self._send(fn, f"AttributionRegistry.setPublisher({publisher}, {allowed})")

    # --- reward shares ------------------------------------------------------------------------------

    def verify_share(self, run_id: str | bytes, contributor: str, share_ppm: int, proof: Sequence[str | bytes]) -> bool:
        """Ask the contract whether `(contributor, share_ppm)` is in the run's rewards tree."""
        args = self._share_args(run_id, contributor, share_ppm, proof)
        return self._read(
            "AttributionRegistry.verifyShare", self._c["AttributionRegistry"].functions.verifyShare(*args).call
        )

    @staticmethod
    def prove_share(tree: StandardMerkleTree | dict[str, Any], contributor: str) -> dict[str, Any]:
        """The share and proof of `contributor` in a rewards tree (a tree, or its OpenZeppelin JSON dump)."""
        if isinstance(tree, dict):
            tree = StandardMerkleTree.load(tree)
        if list(tree.encoding) != LEAF_ENCODING:
            raise LedgerError(f"a rewards tree has leaves {LEAF_ENCODING}, this one {tree.encoding}")
        who = to_address(contributor, "contributor")
        for i, (address, ppm) in enumerate(tree.values):
            if to_address(address, "tree value").lower() == who.lower():
                return {"contributor": who, "share_ppm": int(ppm), "proof": tree.proof(i), "root": tree.root_hex}
        raise LedgerError(f"contributor {who} has no share in the rewards tree with root {tree.root_hex}")

    def fund(self, run_id: str | bytes, amount: int) -> TxResult:
        """Add `amount` test tokens to a published run's reward pool (minting them first if the
        signer owns the test token and lacks them, then approving the distributor)."""
        rid = to_bytes32(run_id, "run_id")
        dist = self._c["RewardDistributor"]
        notes = self._allow(dist.address, "distributor", _positive(amount, "fund"), "fund", "the pool")
        result = self._send(dist.functions.fund(rid, amount), f"RewardDistributor.fund(run {hex32(rid)}, {amount})")
        return _with_note(result, "; ".join(notes) or None)

    def _allow(self, spender: str, what: str, amount: int, verb: str, needer: str) -> list[str]:
        """Let `spender` pull `amount` of the signer's test tokens, minting the shortfall if the signer owns
        the token; notes of the transactions it took."""
        token, me, notes = self._c["TestToken"], self.account, []
        balance = self.token_balance(me)
        if balance < amount:
            owner = self._read("reading the token owner", token.functions.owner().call)
            if owner != me:
                raise LedgerError(f"{verb}: {me} holds {balance} tokens but {needer} needs {amount}")
            minted = self.mint(me, amount - balance)
            notes.append(f"minted {amount - balance} in tx {minted.tx_hash}")
        allowance = self._read("reading the allowance", token.functions.allowance(me, spender).call)
        if allowance < amount:
            approved = self._send(token.functions.approve(spender, amount), f"TestToken.approve({what})")
            notes.append(f"approved the {what} in tx {approved.tx_hash}")
        return notes

    # --- stake and slashing (StakeVault) ----------------------------------------------------------

    def stake(self, datanet: str, amount: int, registrant: str) -> TxResult:
        """Stake `amount` test tokens behind the signer's records in Datanet `datanet` registered by
        `registrant` (its owner; see `datanet_id`); at risk until a run over it is settled after this deposit."""
        vault = self._c["StakeVault"]
        key = self.datanet_id(datanet, registrant)
        notes = self._allow(vault.address, "stake vault", _positive(amount, "stake"), "stake", "the stake")
        result = self._send(vault.functions.deposit(key, amount), f"StakeVault.deposit({datanet!r}, {amount})")
        return _with_note(result, "; ".join(notes) or None)

    def staked(self, datanet: str, contributor: str, registrant: str) -> int:
        """Tokens `contributor` has staked in Datanet `datanet` of `registrant` and not withdrawn or lost."""
        key, who = self.datanet_id(datanet, registrant), to_address(contributor, "contributor")
        return self._read("reading a stake", self._c["StakeVault"].functions.stake(key, who).call)

    def settle(
        self, run_id: str | bytes, datanet: str, slashes: Mapping[str, int], registrant: str | None = None
    ) -> TxResult:
        """Settle a published run once: slash each contributor's stake in Datanet `datanet` (of `registrant`,
        default the signer, who must own or curate it) by the given amount (see `olab.rewards.Rewards.slashes`)
        and pay the total into the run's reward pool."""
        rid = to_bytes32(run_id, "run_id")
        key = self.datanet_id(datanet, self._registrant(registrant))
        who = [to_address(a, "contributor") for a in slashes]
        amounts = [int(v) for v in slashes.values()]
        if any(v < 0 for v in amounts):
            raise LedgerError(f"settle: slashes must be non-negative token amounts, got {dict(slashes)}")
        call = self._c["StakeVault"].functions.settle(rid, key, who, amounts)
        return self._send(call, f"StakeVault.settle(run {hex32(rid)}, {datanet!r}, {len(who)} slashes)")

    def settlement(self, run_id: str | bytes) -> TxResult | None:
        """The transaction that settled a run (`already_recorded`), or None while it is unsettled."""
        rid = to_bytes32(run_id, "run_id")
        vault = self._c["StakeVault"]
        block = self._read("reading a settlement", vault.functions.settledAt(rid).call)
        if not block:
            return None
        return self._original(vault.events.Settled(), block, {"runId": rid}, f"StakeVault.settle(run {hex32(rid)})")

    def settled_datanet(self, run_id: str | bytes) -> str | None:
        """The registry id (0x-hex) of the Datanet whose stake settling a run slashed, or None while unsettled."""
        rid = to_bytes32(run_id, "run_id")
        vault = self._c["StakeVault"]
        block = self._read("reading a settlement", vault.functions.settledAt(rid).call)
        logs = block and self._read(
            "reading a settlement",
            lambda: vault.events.Settled().get_logs(from_block=block, to_block=block, argument_filters={"runId": rid}),
        )
        return hex32(logs[0]["args"]["datanet"]) if logs else None

    def slashed(self, run_id: str | bytes, contributor: str) -> int:
        rid, who = to_bytes32(run_id, "run_id"), to_address(contributor, "contributor")
        return self._read("reading a slash", self._c["StakeVault"].functions.slashed(rid, who).call)

    def withdraw(self, datanet: str, registrant: str) -> TxResult:
        """Take back the signer's remaining stake in Datanet `datanet` of `registrant` (refused while at risk)."""
        call = self._c["StakeVault"].functions.withdraw(self.datanet_id(datanet, registrant))
        return self._send(call, f"StakeVault.withdraw({datanet!r})")

    def pool(self, run_id: str | bytes) -> int:
        """Tokens funded into a run's pool."""
        rid = to_bytes32(run_id, "run_id")
        return self._read("reading a pool", self._c["RewardDistributor"].functions.pool(rid).call)

    def claimed(self, run_id: str | bytes, contributor: str) -> bool:
        rid, who = to_bytes32(run_id, "run_id"), to_address(contributor, "contributor")
        return self._read("reading a claim", self._c["RewardDistributor"].functions.claimed(rid, who).call)

    def claim(
        self, run_id: str | bytes, contributor: str, share_ppm: int, proof: Sequence[str | bytes], kind: str = "run"
    ) -> TxResult:
        """Pay `contributor` its share of the run's pool (`share_ppm * pool / 1e6`), once.
        Anyone may submit it; the tokens go to the contributor. `kind` names the pool in errors ("run", "epoch 3")."""
        args = self._share_args(run_id, contributor, share_ppm, proof)
        dist = self._c["RewardDistributor"]
        what = f"RewardDistributor.claim({kind} {hex32(args[0])}, {args[1]}, {share_ppm} ppm)"
        result, receipt = self._send_with_receipt(dist.functions.claim(*args), what)
        paid = [e["args"]["amount"] for e in dist.events.Claimed().process_receipt(receipt, errors=DISCARD)]
        return _with_note(result, f"paid {paid[0]} tokens to {args[1]}" if paid else None)

    def token_balance(self, address: str) -> int:
        who = to_address(address, "address")
        return self._read("reading a token balance", self._c["TestToken"].functions.balanceOf(who).call)

    def send_value(self, to: str, wei: int) -> TxResult:
        """Send `wei` of the chain's native coin to `to` (gas money, e.g. for a simulated contributor who stakes)."""
        return self._send(
            _ValueTransfer(to_address(to, "to"), _positive(wei, "send_value")), f"sending {wei} wei to {to}"
        )

    def mint(self, to: str, amount: int) -> TxResult:
        """Mint test tokens (the token's owner, its deployer, only)."""
        who = to_address(to, "to")
        return self._send(self._c["TestToken"].functions.mint(who, amount), f"TestToken.mint({who}, {amount})")

    # --- attestations -------------------------------------------------------------------------------

    def attest(
        self, run_id: str | bytes, rewards_root: str | bytes, max_share_diff_ppm: int, rank_corr: float
    ) -> TxResult:
        """Record the signer's reproduction of a run: the rewards root it got, the largest share
        difference (ppm) and the score rank correlation. One attestation per reviewer per run."""
        rid = to_bytes32(run_id, "run_id")
        root = to_bytes32(rewards_root, "rewards_root")
        diff = to_ppm(max_share_diff_ppm, "max_share_diff_ppm")
        corr = rank_corr_to_ppm(rank_corr)
        fn = self._c["AttributionRegistry"].functions.attest(rid, root, diff, corr)
        return self._send(fn, f"AttributionRegistry.attest(run {hex32(rid)}) by {self.account}")

    def attestations(self, run_id: str | bytes) -> list[dict[str, Any]]:
        """Every attestation to a run, oldest first, with whether its root matches the published one."""
        rid = to_bytes32(run_id, "run_id")
        reg = self._c["AttributionRegistry"].functions
        count = self._read("reading attestations", reg.attestationCount(rid).call)
        published = self.get_run(rid)["rewards_root"] if count else None
        out = []
        for i in range(count):
            a = self._read(f"reading attestation {i}", reg.getAttestation(rid, i).call)
            out.append(
                {
                    "reviewer": a[0],
                    "rewards_root": hex32(a[1]),
                    "max_share_diff_ppm": a[2],
                    "rank_corr": a[3] / PPM,
                    "timestamp": a[4],
                    "matches_published": hex32(a[1]) == published,
                }
            )
        return out

    # --- plumbing -----------------------------------------------------------------------------------

    def _resolve_signer(self, signer: int | LocalAccount | None) -> LocalAccount | None:
        if signer is None:
            return None  # resolved on first write, so read-only use needs no key
        if isinstance(signer, int):
            if self.chain.backend == "rpc":
                raise LedgerError("development accounts exist only on local chains (embedded, anvil); pass an account")
            return accounts.dev_account(signer)
        return signer

    def _require_signer(self) -> LocalAccount:
        if self._signer is None:
            self._signer = accounts.signer(self.cfg)
        return self._signer

    def _read(self, what: str, fn: Any) -> Any:
        self.chain.refresh()
        return self.chain.guard(what, fn)

    def _send_with_receipt(self, call: Any, what: str) -> tuple[TxResult, Any]:
        receipt = self.chain.transact(self._require_signer(), call, what)
        tx_hash = "0x" + bytes(receipt["transactionHash"]).hex()
        result = TxResult(
            tx_hash=tx_hash,
            block=receipt["blockNumber"],
            gas_used=receipt["gasUsed"],
            status=receipt["status"],
            explorer_url=self.explorer_url(tx_hash),
        )
        return result, receipt

    def _send(self, call: Any, what: str) -> TxResult:
        return self._send_with_receipt(call, what)[0]

    def _share_args(self, run_id: Any, contributor: str, share_ppm: int, proof: Sequence[Any]) -> tuple[Any, ...]:
        rid = to_bytes32(run_id, "run_id")
        who = to_address(contributor, "contributor")
        ppm = to_ppm(share_ppm, "share_ppm")
        if isinstance(proof, str | bytes) or len(proof) > MAX_PROOF_LENGTH:
            raise LedgerError(f"proof: expected a list of at most {MAX_PROOF_LENGTH} 32-byte hashes, got {proof!r:.80}")
        return rid, who, ppm, [to_bytes32(p, f"proof[{i}]") for i, p in enumerate(proof)]

    def _original(self, event: Any, block: int, filters: dict[str, Any], what: str) -> TxResult:
        """The TxResult of the transaction that first wrote a record (found by its event)."""
        logs = self._read(
            f"finding the transaction behind {what}",
            lambda: event.get_logs(from_block=block, to_block=block, argument_filters=filters),
        )
        if not logs:
            raise LedgerError(f"{what}: the record is on chain (block {block}) but its event was not found")
        tx_hash = "0x" + bytes(logs[0]["transactionHash"]).hex()
        receipt = self._read("reading a receipt", lambda: self.chain.w3.eth.get_transaction_receipt(tx_hash))
        return TxResult(
            tx_hash=tx_hash,
            block=receipt["blockNumber"],
            gas_used=receipt["gasUsed"],
            status=receipt["status"],
            explorer_url=self.explorer_url(tx_hash),
            already_recorded=True,
            note=f"already on chain since block {block}; nothing sent",
        )


class _ValueTransfer:
    """A plain coin transfer, shaped like a web3 contract call so that `Chain.transact` signs and sends it."""

    def __init__(self, to: str, wei: int):
        self.tx = {"to": to, "value": wei, "data": b""}

    def estimate_gas(self, params: dict[str, Any]) -> int:
        return 21_000

    def build_transaction(self, params: dict[str, Any]) -> dict[str, Any]:
        return {**params, **self.tx}

    def call(self, params: dict[str, Any], block_identifier: Any = None) -> None:
        return None


def _positive(amount: Any, what: str) -> int:
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise LedgerError(f"{what}: amount must be a positive integer number of token units, got {amount!r}")
    return amount


def _with_note(result: TxResult, note: str | None) -> TxResult:
    if not note:
        return result
    return TxResult(**{**result.to_json(), "note": note})


def _check_text(value: Any, field: str, max_bytes: int, nonempty: bool = False) -> None:
    if not isinstance(value, str) or len(value.encode()) > max_bytes or (nonempty and not value):
        raise LedgerError(
            f"{field}: expected {'a non-empty' if nonempty else 'a'} string of at most {max_bytes} bytes, got {value!r:.80}"
        )
