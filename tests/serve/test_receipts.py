"""Every answer of a server started with --receipts carries a receipt: stored (append-only SQLite, WAL) before the
response, served at GET /v1/receipts/{id}, accepted by `olab receipt verify --run`; a changed score, record,
contributor, proof, fee or signature makes verification fail and name the link."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
import requests
import torch
from eth_account import Account
from serve_helpers import LiveServer

from olab.pipeline import Run
from olab.serve import receipts

KEY = "0x" + "5e" * 32
SERVER = Account.from_key(KEY).address


@pytest.fixture(scope="module")
def receipt_server(runs: dict[str, Path]) -> Iterator[tuple[LiveServer, Path]]:
    project = runs["clf"].parent.parent
    live = LiveServer([runs["lm_r4"], runs["clf"]], "--receipts", str(project / "receipts.sqlite"), cwd=project,
                      env={**os.environ, receipts.KEY_ENV: KEY})  # fmt: skip
    yield live, project
    live.stop()


def _verify(path: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "olab.cli", "receipt", "verify", str(path), *args], cwd=cwd,
                          capture_output=True, text=True, timeout=900)  # fmt: skip


def test_answers_carry_signed_receipts_that_verify_and_tampering_is_named(receipt_server, runs, tmp_path) -> None:
    live, project = receipt_server
    client = openai.OpenAI(base_url=live.url, api_key="unused", max_retries=0)
    lm, clf = f"{runs['lm_r4'].name}-m1", f"{runs['clf'].name}-m0"
    completion = client.completions.create(model=lm, prompt="Markets today", max_tokens=4, temperature=0)
    chat = client.chat.completions.create(model=lm, messages=[{"role": "user", "content": "Sports"}], max_tokens=4,
                                          temperature=0)  # fmt: skip
    classified = requests.post(f"{live.url}/classify", json={"model": clf, "input": "Stocks fall"}, timeout=600).json()
    again = client.completions.create(model=lm, prompt="Markets today", max_tokens=4, temperature=0)
    assert again.choices[0].text == completion.choices[0].text and again.receipt_id != completion.receipt_id
    ids = [completion.receipt_id, chat.receipt_id, classified["data"][0]["receipt_id"], again.receipt_id]
    assert all(isinstance(i, str) and i.startswith("0x") for i in ids) and len(set(ids)) == 4

    stored = {}
    for rid in ids:
        got = requests.get(f"{live.url}/receipts/{rid}", timeout=60).json()
        assert got["receipt_id"] == rid and got["signer"] == SERVER and len(got["records"]) == 10
        assert not got["shares_ppm"] or sum(got["shares_ppm"].values()) == 1_000_000
        stored[rid] = got
    assert stored[ids[0]]["inputs"] == {"prompt": "Markets today", "output": completion.choices[0].text}
    r = requests.get(f"{live.url}/receipts/0x{'00' * 32}", timeout=60)
    assert r.status_code == 404 and "no receipt" in r.json()["error"]["message"]

    # the store holds every acknowledged receipt and refuses changes
    db = sqlite3.connect(project / "receipts.sqlite")
    assert {row[0] for row in db.execute("SELECT receipt_id FROM receipts")} == set(ids)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("UPDATE receipts SET receipt = '{}'")
    db.close()

    # olab receipt verify accepts a true receipt, recomputing its scores from the run
    clf_receipt = stored[ids[2]]
    run_of_clf = Run.open(runs["clf"], datanet_path=project / Run.open(runs["clf"]).manifest.datanet.path)
    good = tmp_path / "good.json"
    good.write_text(json.dumps(clf_receipt))
    ok = _verify(good, project, "--run", str(runs["clf"]), "--signer", SERVER)
    assert ok.returncode == 0 and "holds" in ok.stdout, ok.stderr
    # the signed body says which kind of device scored it: scores recompute bit for bit only on the same kind
    assert clf_receipt["scored_on"] == "cpu"
    if not torch.cuda.is_available():
        on_gpu = {**receipts.sign({k: v for k, v in clf_receipt.items() if k not in (*receipts.SIGNED, "inputs")}
                                  | {"scored_on": "cuda"}, Account.from_key(KEY), receipts.chain_id_of(run_of_clf)),
                  "inputs": clf_receipt["inputs"]}  # fmt: skip
        gpu_file = tmp_path / "gpu.json"
        gpu_file.write_text(json.dumps(on_gpu))
        elsewhere = _verify(gpu_file, project, "--run", str(runs["clf"]), "--signer", SERVER)
        assert elsewhere.returncode == 2 and "scored on a CUDA GPU" in elsewhere.stderr, elsewhere.stderr
        assert "Traceback" not in elsewhere.stderr

    # a score the server changed and signed again: only recomputing the scores finds it
    forged = json.loads(json.dumps(clf_receipt))
    forged["records"][0]["score"] *= 1.5
    run = Run.open(runs["clf"], datanet_path=project / Run.open(runs["clf"]).manifest.datanet.path)
    forged["shares_ppm"] = receipts.shares_ppm(forged["records"], run.config.rewards)
    forged = {**receipts.sign({k: v for k, v in forged.items() if k not in receipts.SIGNED}, Account.from_key(KEY),
                              receipts.chain_id_of(run)), "inputs": forged["inputs"]}  # fmt: skip
    bad = tmp_path / "forged.json"
    bad.write_text(json.dumps(forged))
    refused = _verify(bad, project, "--run", str(runs["clf"]), "--signer", SERVER)
    assert refused.returncode == 1 and "scores: recomputed top records" in refused.stderr, refused.stderr

    # each changed link is named (checked in-process: the same function the command calls)
    def changed(edit) -> list[str]:
        r = json.loads(json.dumps(clf_receipt))
        edit(r)
        return receipts.problems(r, run=run, signer=SERVER)

    assert receipts.problems(clf_receipt, run=run, signer=SERVER) == []
    assert any(p.startswith("receipt_id") for p in changed(lambda r: r["records"][1].update(score=9.0)))
    assert any(p.startswith("record ") for p in changed(lambda r: r["records"][2].update(contributor=SERVER)))
    assert any(p.startswith("record ") for p in changed(lambda r: r["records"][0]["proof"].reverse()))
    assert any(p.startswith("receipt_id") for p in changed(lambda r: r.update(fee=10**18)))
    # a fee split the server states and signs must be the run's (olab settle pays by it)
    greedy = dict(clf_receipt, fee_split={"developer": 0.5, "stakers": 0.0, "contributors": 0.5,
                                          "developer_address": SERVER, "stakers_address": None})  # fmt: skip
    resigned = receipts.sign({k: v for k, v in greedy.items() if k not in receipts.SIGNED}, Account.from_key(KEY),
                             receipts.chain_id_of(run))  # fmt: skip
    broken = receipts.problems(resigned, run=run, signer=SERVER)
    assert clf_receipt["fee_split"] is None and len(broken) == 1 and broken[0].startswith("fee_split"), broken
    # the signing domain's chain id is in the signed body: a receipt store alone checks every signature, and a
    # receipt signed for another chain holds alone but not against the run
    assert clf_receipt["chain_id"] == receipts.chain_id_of(run)
    elsewhere = receipts.sign({k: v for k, v in clf_receipt.items() if k not in (*receipts.SIGNED, "inputs")}
                              | {"chain_id": 1}, Account.from_key(KEY), 1)  # fmt: skip
    assert receipts.problems(elsewhere, signer=SERVER) == []
    assert [p.split(":")[0] for p in receipts.problems(elsewhere, run=run, signer=SERVER)] == ["chain_id"]
    flipped = "0x" + ("0" if clf_receipt["signature"][2] != "0" else "1") + clf_receipt["signature"][3:]
    assert any(p.startswith("signature") for p in changed(lambda r: r.update(signature=flipped)))
    assert any(p.startswith("signature") for p in receipts.problems(clf_receipt, signer=Account.create().address))


def test_receipts_need_the_signing_key_and_each_runs_datanet(runs, tmp_path) -> None:
    command = [sys.executable, "-m", "olab.cli", "serve", str(runs["clf"]), "--receipts", str(tmp_path / "r.sqlite")]
    env = {k: v for k, v in os.environ.items() if k != receipts.KEY_ENV}
    no_key = subprocess.run(command, cwd=runs["clf"].parent.parent, env=env, capture_output=True, text=True,
                            timeout=300)  # fmt: skip
    assert no_key.returncode == 2 and receipts.KEY_ENV in no_key.stderr and "Traceback" not in no_key.stderr
    assert KEY[4:] not in no_key.stderr + no_key.stdout
    # a run copied out of its project (its Datanet, recorded relative to the project, left behind) is refused at
    # start, naming what is missing; inside its project a run serves from any working directory (Run.project_dir)
    moved = tmp_path / "elsewhere" / runs["clf"].name
    shutil.copytree(runs["clf"], moved)
    away = subprocess.run([*command[:4], str(moved), *command[5:]], cwd=tmp_path, env={**env, receipts.KEY_ENV: KEY},
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert away.returncode == 2 and "Traceback" not in away.stderr and "error: " in away.stderr, away.stderr
