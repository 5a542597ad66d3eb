"""The receipt store: an append-only SQLite database in WAL mode with full fsync on commit, so a receipt the server
acknowledged (it is written before the response is sent) survives the process being killed. Triggers refuse any
UPDATE or DELETE: receipts are only ever added.

Usage epochs (olab.serve.epochs) live in the same file: an epoch is opened with the receipt range it covers before
anything is sent to a chain, and only its `chain` column (the transactions that settled it) is written later.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

from olab.errors import OlabError

SCHEMA = """
CREATE TABLE IF NOT EXISTS receipts (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    receipt_id TEXT NOT NULL UNIQUE,
    run_id TEXT NOT NULL,
    timestamp INTEGER NOT NULL,
    receipt TEXT NOT NULL
);
CREATE TRIGGER IF NOT EXISTS receipts_no_update BEFORE UPDATE ON receipts
    BEGIN SELECT RAISE(ABORT, 'receipts are append-only'); END;
CREATE TRIGGER IF NOT EXISTS receipts_no_delete BEFORE DELETE ON receipts
    BEGIN SELECT RAISE(ABORT, 'receipts are append-only'); END;
CREATE TABLE IF NOT EXISTS epochs (
    number INTEGER PRIMARY KEY,
    first_seq INTEGER NOT NULL,
    last_seq INTEGER NOT NULL,
    epoch_id TEXT NOT NULL UNIQUE,
    record TEXT NOT NULL,
    chain TEXT
);
CREATE TRIGGER IF NOT EXISTS epochs_fixed BEFORE UPDATE OF number, first_seq, last_seq, epoch_id, record ON epochs
    BEGIN SELECT RAISE(ABORT, 'an epoch never changes once opened'); END;
CREATE TRIGGER IF NOT EXISTS epochs_no_delete BEFORE DELETE ON epochs
    BEGIN SELECT RAISE(ABORT, 'an epoch never changes once opened'); END;
"""


class ReceiptStore:
    """`add(receipt)` (durable when it returns), `get(receipt_id)`, `all()`, `integrity()`."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)

    def add(self, receipt: dict[str, Any]) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO receipts (receipt_id, run_id, timestamp, receipt) VALUES (?, ?, ?, ?)",
                (receipt["receipt_id"], receipt["run_id"], receipt["timestamp"], json.dumps(receipt, sort_keys=True)),
            )

    def get(self, receipt_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT receipt FROM receipts WHERE receipt_id = ?", (receipt_id,)).fetchone()
        return None if row is None else json.loads(row[0])

    def all(self) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute("SELECT receipt FROM receipts ORDER BY seq").fetchall()
        return [json.loads(r[0]) for r in rows]

    def after(self, seq: int) -> list[tuple[int, dict[str, Any]]]:
        """(seq, receipt) of every receipt stored after sequence number `seq`, in order."""
        return self.between(seq + 1, None)

    def between(self, first: int, last: int | None) -> list[tuple[int, dict[str, Any]]]:
        """(seq, receipt) of the receipts with first <= seq <= last (no upper bound: None), in order."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, receipt FROM receipts WHERE seq >= ? AND seq <= ? ORDER BY seq",
                (first, (1 << 62) if last is None else last),
            ).fetchall()
        return [(seq, json.loads(text)) for seq, text in rows]

    def epochs(self) -> list[dict[str, Any]]:
        """Every epoch, oldest first: number, first_seq, last_seq, epoch_id, record (dict), chain (dict or None)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT number, first_seq, last_seq, epoch_id, record, chain FROM epochs ORDER BY number"
            ).fetchall()
        keys = ("number", "first_seq", "last_seq", "epoch_id")
        return [{**dict(zip(keys, r[:4], strict=True)), "record": json.loads(r[4]),
                 "chain": None if r[5] is None else json.loads(r[5])} for r in rows]  # fmt: skip

    def open_epoch(self, number: int, first_seq: int, last_seq: int, epoch_id: str, record: dict[str, Any]) -> bool:
        """Record a new epoch (durable when it returns); False when epoch `number` exists already (another settle
        opened it first)."""
        with self._lock:
            try:
                self._db.execute(
                    "INSERT INTO epochs (number, first_seq, last_seq, epoch_id, record) VALUES (?, ?, ?, ?, ?)",
                    (number, first_seq, last_seq, epoch_id, json.dumps(record, sort_keys=True)),
                )
            except sqlite3.IntegrityError:
                return False
        return True

    def close_epoch(self, number: int, chain: dict[str, Any]) -> None:
        """Record the transactions that published and funded epoch `number`."""
        with self._lock:
            self._db.execute(
                "UPDATE epochs SET chain = ? WHERE number = ?", (json.dumps(chain, sort_keys=True), number)
            )

    def integrity(self) -> str:
        with self._lock:
            return self._db.execute("PRAGMA integrity_check").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()


def open_store(path: str | Path) -> ReceiptStore:
    try:
        return ReceiptStore(path)
    except sqlite3.DatabaseError as e:
        raise OlabError(f"receipt store {path} cannot be opened as a SQLite database ({e}); give a new path") from e
