"""`olab serve` under load from concurrent clients, against one client in the same run; nothing acknowledged lost.

Starts a real `olab serve RUN_DIR... --receipts --fee 1` on 127.0.0.1, sends `--requests` completions from one
`openai` client (the baseline), then from each of `--clients` concurrent clients, spread over every adapter. Prints
latency p50/p99, throughput and its ratio to the one client's, errors, the receipts clients received that the store
does not hold (goal 0), and settles the store on a throwaway embedded chain: its fees must equal fee x receipts.

    .venv/bin/python experiments/serve_bench/load.py RUN_DIR [RUN_DIR ...] [--clients 16] [--requests 200]

Run it from the project directory the runs were made in (their Datanets are recorded relative to it).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import openai
import requests
from eth_account import Account

from olab.errors import exit_on_error
from olab.ledger import ChainConfig, Ledger
from olab.serve import epochs
from olab.serve.receipts import KEY_ENV
from olab.serve.store import ReceiptStore

FEE = 1


def start(runs: list[str], store: Path) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, KEY_ENV: "0x" + Account.create().key.hex().removeprefix("0x")}  # a throwaway signing key
    command = [sys.executable, "-m", "olab.cli", "serve", *runs, "--port", str(port), "--receipts", str(store),
               "--fee", str(FEE)]  # fmt: skip
    log = store.with_name("serve.log")  # the server's own messages, beside its receipt store
    with log.open("wb") as out:
        proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=out)
    url = f"http://127.0.0.1:{port}/v1"
    for _ in range(600):
        if proc.poll() is not None:
            said = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
            raise SystemExit(f"olab serve exited {proc.returncode}: {said[-1] if said else f'nothing in {log}'}")
        try:
            requests.get(f"{url}/models", timeout=5).raise_for_status()
            return proc, url
        except requests.ConnectionError:
            time.sleep(0.5)
    proc.kill()
    raise SystemExit("olab serve did not answer within 300 s")


def drive(url: str, models: list[str], clients: int, n: int, max_tokens: int) -> dict:
    """`clients` threads, `n` completions each; latencies, receipt ids, errors and the wall time."""
    lat: list[float] = []
    ids: list[str] = []
    errors: list[str] = []

    def client(c: int) -> None:
        api = openai.OpenAI(base_url=url, api_key="unused", max_retries=0, timeout=600)
        for i in range(n):
            t0 = time.perf_counter()
            try:
                out = api.completions.create(model=models[(c + i) % len(models)], prompt=f"client {c} asks {i}",
                                             max_tokens=max_tokens)  # fmt: skip
            except openai.OpenAIError as e:
                errors.append(f"{type(e).__name__}: {e}"[:200])
                continue
            lat.append(time.perf_counter() - t0)
            ids.append(out.receipt_id)

    t0 = time.perf_counter()
    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    q = statistics.quantiles(lat, n=100) if len(lat) > 1 else lat * 99
    return {"requests": clients * n, "ok": len(lat), "errors": errors, "ids": ids, "wall_s": wall,
            "p50_s": q[49], "p99_s": q[98], "throughput_rps": len(lat) / wall}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+")
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--requests", type=int, default=200, help="completions per client")
    ap.add_argument("--max-tokens", type=int, default=4)
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="serve-load-"))
    store_path = work / "receipts.sqlite"
    proc, url = start(args.runs, store_path)
    try:
        models = [m["id"] for m in requests.get(f"{url}/models", timeout=60).json()["data"] if m["task"] == "causal_lm"]
        drive(url, models, 1, len(models), args.max_tokens)  # warm-up: each adapter's training side is prepared
        one = drive(url, models, 1, args.requests, args.max_tokens)
        many = drive(url, models, args.clients, args.requests, args.max_tokens)
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    store = ReceiptStore(store_path)
    held = {r["receipt_id"] for _, r in store.after(0)}
    missing = [i for i in one["ids"] + many["ids"] if i not in held]
    with Ledger(ChainConfig(state_dir=str(work / "chain"))) as ledger:
        e = epochs.settle(store, ledger)
        exact = e.record["total_fee"] == FEE * len(held) == ledger.pool(e.epoch_id)
    out = {
        "clients": args.clients,
        "requests_per_client": args.requests,
        "adapters": len(models),
        "one_client": {k: v for k, v in one.items() if k != "ids"},
        "concurrent": {k: v for k, v in many.items() if k != "ids"},
        "throughput_concurrent_vs_one_client": many["throughput_rps"] / one["throughput_rps"],
        "receipts_missing_from_store": len(missing),
        "receipts_stored": len(held),
        "settled_fees_exact": exact,
    }
    path = Path(__file__).parent / "out" / "load.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(out, indent=2))
    c = out["concurrent"]
    print(f"{args.clients} clients x {args.requests} requests over {len(models)} adapters: p50 {c['p50_s']:.3f} s, "
          f"p99 {c['p99_s']:.3f} s, {c['throughput_rps']:.2f} req/s = {out['throughput_concurrent_vs_one_client']:.2f}x "
          f"one client's; errors {len(c['errors'])}; receipts missing from the store {len(missing)} of "
          f"{len(one['ids']) + len(many['ids'])}; settled fees exact: {exact}")  # fmt: skip


if __name__ == "__main__":
    with exit_on_error():
        main()
