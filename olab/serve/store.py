"""The receipt store: an append-only SQLite database in WAL mode with full fsync on commit, so a receipt the server
acknowledged (it is written before the response is sent) survives the process being killed. Triggers refuse any
UPDATE or DELETE: receipts are only ever added.
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
