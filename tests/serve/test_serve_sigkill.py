"""SIGKILL the live server while clients are sending: every receipt a client received is in the store after the
restart, the store is intact, and settling the store pays out exactly the fees of the receipts it holds."""

from __future__ import annotations

import os
import signal
import threading
import time
from fractions import Fraction
from pathlib import Path

import openai
from serve_helpers import LiveServer

from olab.ledger import ChainConfig, Ledger
from olab.rewards import POOL_REMAINDER, PPM
from olab.serve import epochs, receipts
from olab.serve.store import ReceiptStore

KEY = "0x" + "6d" * 32
FEE = 1_000
CLIENTS = 4


def _send(url: str, model: str, who: int, got: list[str], stop: threading.Event) -> None:
    """One client: completions until the server goes away; each receipt id it received goes into `got`."""
    client = openai.OpenAI(base_url=url, api_key="unused", max_retries=0, timeout=600)
    n = 0
    while not stop.is_set():
        try:
            answer = client.completions.create(model=model, prompt=f"client {who} asks {n}", max_tokens=2)
        except openai.APIConnectionError:
            return  # killed
        got.append(answer.receipt_id)
        n += 1


def test_receipts_survive_sigkill_and_settle_to_exact_totals(runs: dict[str, Path], tmp_path: Path) -> None:
    db = tmp_path / "receipts.sqlite"
    args = ("--receipts", str(db), "--fee", str(FEE))
    env = {**os.environ, receipts.KEY_ENV: KEY}
    model, project = f"{runs['lm_r4'].name}-m0", runs["lm_r4"].parent.parent  # the runs name their Datanet from there
    live = LiveServer([runs["lm_r4"]], *args, cwd=project, env=env)
    got: list[str] = []
    stop = threading.Event()
    clients = [threading.Thread(target=_send, args=(live.url, model, i, got, stop)) for i in range(CLIENTS)]
    for t in clients:
        t.start()
    deadline = time.monotonic() + 600
    while len(got) < 3 * CLIENTS and time.monotonic() < deadline:
        time.sleep(0.05)
    live.proc.send_signal(signal.SIGKILL)  # requests are in flight: the clients keep sending until it is gone
    live.proc.wait()
    stop.set()
    for t in clients:
        t.join(timeout=120)
    received = list(got)
    assert len(received) >= 3 * CLIENTS and len(set(received)) == len(received)

    restarted = LiveServer([runs["lm_r4"]], *args, cwd=project, env=env)
    after = openai.OpenAI(base_url=restarted.url, api_key="unused", max_retries=0, timeout=600)
    received.append(after.completions.create(model=model, prompt="after the restart", max_tokens=2).receipt_id)
    restarted.stop()

    store = ReceiptStore(db)
    assert store.integrity() == "ok"
    held = [r for _, r in store.after(0)]
    assert set(received) <= {r["receipt_id"] for r in held}
    print(f"received {len(received)} receipts from {CLIENTS} clients across the kill; the store holds {len(held)}")
    assert all(receipts.receipt_id(r) == r["receipt_id"] for r in held)

    with Ledger(ChainConfig(state_dir=str(tmp_path / "chain"))) as ledger:
        e = epochs.settle(store, ledger)
        assert e.record["receipt_ids"] == [r["receipt_id"] for r in held]
        assert e.record["total_fee"] == FEE * len(held) == ledger.pool(e.epoch_id)
        owed: dict[str, Fraction] = {}  # each address's exact part of the fees (the run has no fee split)
        for r in held:
            for who, ppm in r["shares_ppm"].items():
                owed[who] = owed.get(who, Fraction(0)) + Fraction(FEE * ppm, PPM)
        assert sum(owed.values()) <= e.record["total_fee"]
        for who, amount in owed.items():
            if who != POOL_REMAINDER:  # the remainder leaf also holds the rounding units
                assert e.record["shares_ppm"][who] == amount * PPM // e.record["total_fee"]
        assert sum(e.amounts().values()) <= e.record["total_fee"] and sum(e.record["shares_ppm"].values()) == PPM
        assert epochs.problems(store, e.number, ledger) == []
    store.close()
