"""The receipt store keeps every receipt it acknowledged: a writer killed with SIGKILL mid-stream loses none of the
receipts whose `add` returned, the database stays intact, and nothing can be changed or removed."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from olab.serve.store import ReceiptStore

WRITER = """
import sys
from olab.serve.store import ReceiptStore
store = ReceiptStore(sys.argv[1])
i = 0
while True:
    store.add({"receipt_id": f"0x{i:064x}", "run_id": "0xrun", "timestamp": i, "records": [i] * 50})
    print(i, flush=True)  # acknowledged only after add returned
    i += 1
"""


def test_acknowledged_receipts_survive_sigkill(tmp_path: Path) -> None:
    db = tmp_path / "receipts.sqlite"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(db)], stdout=subprocess.PIPE, text=True)
    acked: list[int] = []
    deadline = time.monotonic() + 120
    while len(acked) < 200 and time.monotonic() < deadline:
        acked.append(int(proc.stdout.readline()))
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert len(acked) == 200
    store = ReceiptStore(db)
    kept = {r["receipt_id"] for r in store.all()}
    assert {f"0x{i:064x}" for i in acked} <= kept and store.integrity() == "ok"
    assert store.get(f"0x{acked[-1]:064x}")["records"] == [acked[-1]] * 50
    with pytest.raises(sqlite3.IntegrityError):
        store.add({"receipt_id": f"0x{0:064x}", "run_id": "0xrun", "timestamp": 0})  # ids are never reused
    raw = sqlite3.connect(db)
    for statement in ("DELETE FROM receipts", "UPDATE receipts SET timestamp = 0"):
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            raw.execute(statement)
    store.close()
