"""A connection to one EVM chain: reads through web3, sends locally signed transactions.

`Chain` does what every backend shares: gas estimation (which also surfaces a revert's reason
before any gas is spent), EIP-1559 fees, nonces, signing, receipt waiting, and turning node and
contract failures into `LedgerError`s that name the call. `NodeChain` talks JSON-RPC to anvil or
any node and retries transient failures; `olab.ledger.embedded.EmbeddedChain` runs py-evm in
process.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import requests
from eth_account.signers.local import LocalAccount
from eth_tester.exceptions import TransactionFailed
from web3 import Web3
from web3.exceptions import (
    ContractLogicError,
    ProviderConnectionError,
    TimeExhausted,
    TransactionNotFound,
    Web3RPCError,
)
from web3.providers.rpc.utils import ExceptionRetryConfiguration
from web3.types import TxReceipt

from olab.errors import LedgerError
from olab.ledger.config import ChainConfig
from olab.secrets import redact

log = logging.getLogger("olab.ledger")
T = TypeVar("T")

_CONNECTION_ERRORS = (requests.ConnectionError, requests.Timeout, ProviderConnectionError, ConnectionError)
_TRANSIENT_HTTP = {429, 500, 502, 503, 504}


def revert_reason(err: BaseException) -> str:
    """The contract's revert reason, from eth-tester's TransactionFailed or a node's ContractLogicError."""
    msg = getattr(err, "message", None) or (err.args[0] if err.args else "") or ""
    if isinstance(msg, bytes):
        msg = msg.decode(errors="replace")
    msg = str(msg)
    for prefix in ("execution reverted: ", "execution reverted:", "revert: "):
        if msg.startswith(prefix):
            return msg[len(prefix) :].strip()
    return msg or "no reason given"


class Chain:
    """What all backends share. Subclasses provide the web3 instance and how a signed tx is submitted."""

    backend: str = "?"

    def __init__(self, w3: Web3, cfg: ChainConfig, where: str):
        self.w3 = w3
        self.cfg = cfg
        self.where = where  # "the embedded chain" / "the node at URL": used in messages
        self._nonces: dict[str, int] = {}
        self._lock = threading.RLock()
        self.chain_id = self.guard("reading the chain id", lambda: self.w3.eth.chain_id)

    # --- failures -> LedgerError ------------------------------------------------------------------

    def guard(self, what: str, fn: Callable[[], T]) -> T:
        """Run `fn`; a revert, an unreachable node or an RPC error becomes a LedgerError naming `what`."""
        try:
            return fn()
        except (TransactionFailed, ContractLogicError) as e:
            raise LedgerError(f"{what} was refused by the contract: {revert_reason(e)}") from None
        except _CONNECTION_ERRORS as e:
            raise LedgerError(
                f"cannot reach {self.where} while {what}: {type(e).__name__}: {e}. "
                "Is the node running? (`olab chain up` starts a local anvil)"
            ) from None
        except requests.HTTPError as e:
            status = getattr(e.response, "status_code", "error")
            raise LedgerError(f"{self.where} answered HTTP {status} while {what}") from None
        except Web3RPCError as e:
            raise LedgerError(f"{self.where} rejected {what}: {e.message}") from None

    def refresh(self) -> None:
        """Bring a local view up to date before reads (the embedded chain replays new journal entries)."""

    # --- sending ----------------------------------------------------------------------------------

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Held while a transaction is built, sent and mined (one sender at a time)."""
        with self._lock:
            yield

    def transact(self, account: LocalAccount, call: Any, what: str) -> TxReceipt:
        """Estimate, sign, send and wait for `call` (a web3 contract function or constructor)."""
        with self.writing():
            sender = account.address
            params: dict[str, Any] = {"from": sender}
            gas = self.guard(what, lambda: call.estimate_gas(params))
            params.update(self._fees())
            params["gas"] = max(int(gas * self.cfg.gas_multiplier), gas + 1)
            params["chainId"] = self.chain_id
            for attempt in range(self.cfg.retries):
                params["nonce"] = self._next_nonce(sender)
                tx = self.guard(what, lambda: call.build_transaction(params))
                signed = account.sign_transaction(tx)
                tx_hash = "0x" + bytes(signed.hash).hex()
                try:
                    self._submit(signed.raw_transaction, tx_hash, what)
                except _NonceTaken:
                    self._nonces.pop(sender, None)
                    log.info("nonce %s for %s was taken; retrying (%s)", params["nonce"], sender, what)
                    if attempt + 1 == self.cfg.retries:
                        raise LedgerError(
                            f"{what}: nonce kept being taken by other transactions from {sender}"
                        ) from None
                    continue
                self._nonces[sender] = params["nonce"] + 1
                break
            receipt = self._wait(tx_hash, what)
        log.info("%s: tx %s in block %s, gas %s", what, tx_hash, receipt["blockNumber"], receipt["gasUsed"])
        if receipt["status"] != 1:
            raise LedgerError(f"{what} reverted on chain in tx {tx_hash}: {self._reason_at(call, params, receipt)}")
        return receipt

    def _next_nonce(self, sender: str) -> int:
        pending = self.guard("reading the account nonce", lambda: self.w3.eth.get_transaction_count(sender, "pending"))
        return max(pending, self._nonces.get(sender, 0))

    def _fees(self) -> dict[str, int]:
        block = self.guard("reading the latest block", lambda: self.w3.eth.get_block("latest"))
        base = block.get("baseFeePerGas")
        if base is None:  # a pre-London chain: legacy pricing
            return {"gasPrice": self.guard("reading the gas price", lambda: self.w3.eth.gas_price)}
        if self.cfg.priority_fee_gwei is not None:
            tip = int(Web3.to_wei(self.cfg.priority_fee_gwei, "gwei"))
        else:
            tip = self.guard("reading the priority fee", lambda: self.w3.eth.max_priority_fee)
        return {"maxPriorityFeePerGas": tip, "maxFeePerGas": 2 * base + tip}

    def _reason_at(self, call: Any, params: dict[str, Any], receipt: TxReceipt) -> str:
        """Replay a failed transaction as a call on the state after its block (which holds whatever
        made it fail, e.g. a competing claim) to learn the revert reason."""
        try:
            call.call({"from": params["from"]}, block_identifier=receipt["blockNumber"])
        except (TransactionFailed, ContractLogicError) as e:
            return revert_reason(e)
        except Exception as e:  # the reason is a courtesy; the failure itself is already known
            return f"reason unavailable ({type(e).__name__})"
        return "out of gas or state changed before it was mined"

    def _submit(self, raw: bytes, tx_hash: str, what: str) -> None:
        raise NotImplementedError

    def _wait(self, tx_hash: str, what: str) -> TxReceipt:
        raise NotImplementedError

    def close(self) -> None:
        """Release what the connection holds (nothing for a node)."""


class _NonceTaken(Exception):
    """The nonce was used by another transaction: rebuild with a fresh one."""


class NodeChain(Chain):
    """A JSON-RPC node: anvil, or any EVM testnet."""

    def __init__(self, cfg: ChainConfig, url: str, backend: str):
        self.backend = backend
        self.url = url
        retry = ExceptionRetryConfiguration(
            errors=(requests.ConnectionError, requests.HTTPError, requests.Timeout),
            retries=cfg.retries,
            backoff_factor=cfg.retry_backoff_s,
        )
        provider = Web3.HTTPProvider(
            url, request_kwargs={"timeout": cfg.timeout_s}, exception_retry_configuration=retry
        )
        super().__init__(Web3(provider), cfg, f"the {backend} node at {redact(url)}")
        expected = cfg.expected_chain_id()
        if expected is not None and expected != self.chain_id:
            raise LedgerError(
                f"the node at {redact(url)} is chain {self.chain_id}, but the config expects chain {expected}"
            )

    def _submit(self, raw: bytes, tx_hash: str, what: str) -> None:
        delay = self.cfg.retry_backoff_s
        for attempt in range(self.cfg.retries):
            try:
                self.w3.eth.send_raw_transaction(raw)
                return
            except Web3RPCError as e:
                text = (e.message or "").lower()
                if "already known" in text or "known transaction" in text:
                    return  # an earlier attempt reached the node
                if "nonce too low" in text or "nonce has already been used" in text:
                    if self._known(tx_hash):
                        return
                    raise _NonceTaken() from None
                raise LedgerError(f"{self.where} rejected {what}: {e.message}") from None
            except (*_CONNECTION_ERRORS, requests.HTTPError) as e:
                status = getattr(getattr(e, "response", None), "status_code", None)
                if isinstance(e, requests.HTTPError) and status not in _TRANSIENT_HTTP:
                    raise LedgerError(f"{self.where} answered HTTP {status} while sending {what}") from None
                if self._known(tx_hash):
                    return
                if attempt + 1 == self.cfg.retries:
                    raise LedgerError(
                        f"cannot reach {self.where} to send {what} after {self.cfg.retries} attempts: {e}"
                    ) from None
                log.warning("sending %s failed (%s); retrying in %.2fs", what, type(e).__name__, delay)
                time.sleep(delay)
                delay *= 2

    def _known(self, tx_hash: str) -> bool:
        try:
            self.w3.eth.get_transaction(tx_hash)
            return True
        except Exception:
            return False

    def _wait(self, tx_hash: str, what: str) -> TxReceipt:
        try:
            return self.w3.eth.wait_for_transaction_receipt(
                tx_hash, timeout=self.cfg.receipt_timeout_s, poll_latency=self.cfg.poll_interval_s
            )
        except (TimeExhausted, TransactionNotFound):
            raise LedgerError(
                f"{what}: transaction {tx_hash} was sent but not mined within {self.cfg.receipt_timeout_s:g}s; "
                "it may still be mined: look it up, then rerun (publishing is idempotent)"
            ) from None
        except _CONNECTION_ERRORS as e:
            raise LedgerError(f"{what}: lost {self.where} while waiting for tx {tx_hash}: {e}") from None
