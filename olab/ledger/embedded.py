"""The embedded chain: py-evm in process, made persistent by a journal of signed transactions.

Every mined transaction is appended (one JSON line, fsynced, under a file lock) to
`<state_dir>/embedded/journal.jsonl` with its block timestamp; opening the chain in a new process
replays the journal into a fresh py-evm chain from the same genesis, so `olab run` and a later
`olab verify` see one chain. The journal holds signed transactions only, never a key: the chain is
signed for by the public development accounts. A state snapshot (`snapshot.bin`, keyed by a hash
of the journal prefix it reflects) makes reopening cost only the transactions after it; a
half-written last line (a crash mid-append) is ignored and trimmed by the next writer.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import logging
import os
import struct
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from eth.db.atomic import AtomicDB
from eth.db.backends.memory import MemoryDB
from eth_tester import EthereumTester, PyEVMBackend
from filelock import FileLock
from web3 import EthereumTesterProvider, Web3
from web3.types import TxReceipt

from olab.errors import LedgerError
from olab.io import atomic_write_bytes
from olab.ledger.accounts import DEV_ACCOUNTS, DEV_HD_PATH, DEV_MNEMONIC
from olab.ledger.chain import Chain
from olab.ledger.config import ChainConfig

log = logging.getLogger("olab.ledger")

FORMAT = "olab-embedded-chain/1"
SNAPSHOT_FORMAT = "olab-embedded-snapshot/1"
GAS_LIMIT = 30_000_000
SNAPSHOT_EVERY = 8  # replaying this many journal entries is slower than loading a snapshot


def _evm_versions() -> str:
    return f"py-evm {importlib.metadata.version('py-evm')}, eth-tester {importlib.metadata.version('eth-tester')}"


class EmbeddedChain(Chain):
    backend = "embedded"
    snapshot_every = SNAPSHOT_EVERY

    def __init__(self, cfg: ChainConfig):
        self.dir = Path(cfg.state_dir) / "embedded"
        self.journal_path = self.dir / "journal.jsonl"
        self.snapshot_path = self.dir / "snapshot.bin"
        self.lock_path = self.dir / "journal.lock"
        self.dir.mkdir(parents=True, exist_ok=True)
        self._writing = False
        with FileLock(self.lock_path):
            self._header = self._ensure_header()
        self._open()
        super().__init__(self.w3, cfg, f"the embedded chain in {self.dir}")

    # --- journal ------------------------------------------------------------------------------------

    def _ensure_header(self) -> dict[str, Any]:
        if not self.journal_path.exists() or self.journal_path.stat().st_size == 0:
            header = {"format": FORMAT, "genesis_timestamp": int(time.time()), "gas_limit": GAS_LIMIT}
            atomic_write_bytes(self.journal_path, (json.dumps(header) + "\n").encode())
        with open(self.journal_path, "rb") as f:
            first = f.readline()
        try:
            header = json.loads(first)
        except ValueError:
            header = {}
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            raise LedgerError(
                f"{self.journal_path} is not an olab embedded-chain journal (format {FORMAT!r}); "
                "move it away to start a new embedded chain"
            )
        self._header_len = len(first)
        return header

    def _read_entries(self, offset: int) -> tuple[list[dict[str, Any]], int]:
        """Complete journal lines from byte `offset`; a trailing partial line is left for later."""
        with open(self.journal_path, "rb") as f:
            f.seek(offset)
            data = f.read()
        end = data.rfind(b"\n")
        if end < 0:
            return [], offset
        entries = []
        for i, line in enumerate(data[:end].split(b"\n")):
            try:
                entries.append(json.loads(line))
            except ValueError:
                raise LedgerError(
                    f"{self.journal_path}: entry {self._entries + i + 1} is corrupt (not JSON); "
                    "the embedded chain cannot be rebuilt past it"
                ) from None
        return entries, offset + end + 1

    def _append(self, entry: dict[str, Any]) -> None:
        line = (json.dumps(entry, separators=(",", ":")) + "\n").encode()
        fd = os.open(self.journal_path, os.O_WRONLY | os.O_APPEND)
        try:
            written = os.write(fd, line)
            if written != len(line):
                raise OSError(f"short write to {self.journal_path} ({written} of {len(line)} bytes)")
            os.fsync(fd)
        finally:
            os.close(fd)
        self._offset += len(line)
        self._entries += 1

    def _trim_partial_tail(self) -> None:
        """Drop a half-written last line left by a writer that died mid-append (caller holds the lock)."""
        size = self.journal_path.stat().st_size
        if size == 0:
            return
        with open(self.journal_path, "rb+") as f:
            f.seek(size - 1)
            if f.read(1) == b"\n":
                return
            f.seek(0)
            keep = f.read().rfind(b"\n") + 1
            log.warning("trimming a half-written entry from %s (%d bytes)", self.journal_path, size - keep)
            f.truncate(keep)

    # --- building and replaying -----------------------------------------------------------------

    def _open(self) -> None:
        """A fresh in-memory chain: genesis, then the snapshot if it matches, then the journal's rest."""
        params = PyEVMBackend.generate_genesis_params(
            {"timestamp": self._header["genesis_timestamp"], "gas_limit": self._header["gas_limit"]}
        )
        self._evm = PyEVMBackend.from_mnemonic(
            DEV_MNEMONIC, num_accounts=DEV_ACCOUNTS, hd_path=DEV_HD_PATH, genesis_parameters=params
        )
        self._offset, self._entries = self._header_len, 0
        self._snapshot_entries = 0
        self.replayed = 0  # journal entries replayed since the chain was built (0 right after a good snapshot)
        self._load_snapshot()
        self.tester = EthereumTester(self._evm)
        if getattr(self, "w3", None) is None:
            self.w3 = Web3(EthereumTesterProvider(self.tester))
        else:  # a rebuild: keep the Web3 object (contracts hold it), swap what it talks to
            self.w3.provider = EthereumTesterProvider(self.tester)
        self._sync()

    def _sync(self) -> None:
        """Replay journal entries other processes (or a previous run) appended since we last looked."""
        if self.journal_path.stat().st_size <= self._offset:
            return
        entries, end = self._read_entries(self._offset)
        for entry in entries:
            self._replay(entry)
        self._offset = end
        self._maybe_snapshot()

    def _replay(self, entry: dict[str, Any]) -> None:
        self._set_timestamp(entry["timestamp"])
        try:
            tx_hash = self.tester.send_raw_transaction(entry["tx"])
        except Exception as e:
            raise LedgerError(
                f"{self.journal_path}: entry {self._entries + 1} (tx {entry.get('hash')}) does not replay: {e}. "
                "The journal was written by an incompatible olab/py-evm; move the state dir away to start afresh"
            ) from None
        status = self.tester.get_transaction_receipt(tx_hash)["status"]
        if tx_hash != entry["hash"] or status != entry["status"]:
            raise LedgerError(
                f"{self.journal_path}: entry {self._entries + 1} replays as tx {tx_hash} status {status}, "
                f"but was recorded as tx {entry['hash']} status {entry['status']}"
            )
        self._entries += 1
        self.replayed += 1

    def _set_timestamp(self, timestamp: int) -> None:
        chain = self._evm.chain
        chain.header = chain.header.copy(timestamp=timestamp)

    # --- snapshot -------------------------------------------------------------------------------

    def _journal_digest(self, offset: int) -> str:
        with open(self.journal_path, "rb") as f:
            return hashlib.sha256(f.read(offset)).hexdigest()

    def _maybe_snapshot(self) -> None:
        if self._entries - self._snapshot_entries < self.snapshot_every:
            return
        meta = {
            "format": SNAPSHOT_FORMAT,
            "evm": _evm_versions(),
            "offset": self._offset,
            "entries": self._entries,
            "journal_sha256": self._journal_digest(self._offset),
        }
        kv = self._evm.chain.chaindb.db.wrapped_db.kv_store
        parts = [json.dumps(meta).encode(), b"\n"]
        for k, v in kv.items():
            parts += [struct.pack(">II", len(k), len(v)), k, v]
        try:
            atomic_write_bytes(self.snapshot_path, b"".join(parts))
            self._snapshot_entries = self._entries
        except OSError as e:  # a snapshot only saves time; the journal is the record
            log.warning("could not write the embedded chain snapshot %s: %s", self.snapshot_path, e)

    def _load_snapshot(self) -> None:
        try:
            data = self.snapshot_path.read_bytes()
            nl = data.index(b"\n")
            meta = json.loads(data[:nl])
        except (OSError, ValueError):
            return
        if meta.get("format") != SNAPSHOT_FORMAT or meta.get("evm") != _evm_versions():
            return  # another py-evm may lay out its database differently: replay the journal instead
        if self.journal_path.stat().st_size < meta["offset"]:
            return
        if self._journal_digest(meta["offset"]) != meta["journal_sha256"]:
            log.info("ignoring %s: it does not match the journal", self.snapshot_path)
            return
        kv, pos = {}, nl + 1
        while pos < len(data):
            klen, vlen = struct.unpack_from(">II", data, pos)
            pos += 8
            kv[data[pos : pos + klen]] = data[pos + klen : pos + klen + vlen]
            pos += klen + vlen
        self._evm.chain = type(self._evm.chain)(AtomicDB(MemoryDB(kv)))
        self._offset, self._entries = meta["offset"], meta["entries"]
        self._snapshot_entries = self._entries

    # --- Chain hooks ----------------------------------------------------------------------------

    def refresh(self) -> None:
        self._sync()

    @contextmanager
    def writing(self) -> Iterator[None]:
        with self._lock:
            if self._writing:  # re-entered (a deploy sends several transactions): the lock is held
                yield
                return
            with FileLock(self.lock_path):
                self._writing = True
                try:
                    self._trim_partial_tail()
                    self._sync()
                    yield
                finally:
                    self._writing = False

    def _next_nonce(self, sender: str) -> int:
        # the synced in-memory chain is the truth (other processes' transactions were just replayed)
        return self.w3.eth.get_transaction_count(sender, "pending")

    def _submit(self, raw: bytes, tx_hash: str, what: str) -> None:
        parent = self.w3.eth.get_block("latest")["timestamp"]
        timestamp = max(int(time.time()), parent + 1)
        self._set_timestamp(timestamp)
        try:
            self.tester.send_raw_transaction("0x" + raw.hex())
        except Exception as e:
            raise LedgerError(f"the embedded chain rejected {what}: {e}") from None
        status = self.tester.get_transaction_receipt(tx_hash)["status"]
        try:
            self._append({"tx": "0x" + raw.hex(), "hash": tx_hash, "timestamp": timestamp, "status": status})
        except OSError as e:
            self._open()  # the in-memory chain ran ahead of the journal: rebuild it from the journal
            raise LedgerError(f"could not record {what} in {self.journal_path}: {e}; nothing was recorded") from None
        self._maybe_snapshot()

    def _wait(self, tx_hash: str, what: str) -> TxReceipt:
        return self.w3.eth.get_transaction_receipt(tx_hash)
