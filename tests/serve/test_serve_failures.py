"""`olab serve` when things go wrong under it: a run directory deleted while it serves gets a clear 409 naming the
adapter and what is missing (from the loader and from the receipt path) while the other adapters still answer, and
any unforeseen exception is a JSON 500 with a request id (the traceback, redacted, only in the server's log)."""

from __future__ import annotations

import logging
import os
import shutil

import openai
import pytest
import requests
from fastapi.testclient import TestClient
from serve_helpers import LiveServer

from olab.serve import receipts
from olab.serve.app import Server


def test_a_run_deleted_while_serving_is_refused_clearly_and_the_others_still_answer(runs, tmp_path) -> None:
    gone = runs["lm_r4"].parent / "deleted0000000000"  # beside the others: its Datanet resolves in the project
    shutil.copytree(runs["lm_r4"], gone)
    other = f"{runs['lm_r8'].name}-m0"
    live = LiveServer([gone, runs["lm_r8"]], "--receipts", str(tmp_path / "receipts.sqlite"), cwd=tmp_path,
                      env={**os.environ, receipts.KEY_ENV: "0x" + "5e" * 32})  # fmt: skip
    try:
        client = openai.OpenAI(base_url=live.url, api_key="unused", max_retries=0)
        # the adapter's weights are intact (it loads), but the run file its receipt needs is gone
        (gone / "adapters" / "model-0" / "provenance.json").unlink()
        with pytest.raises(openai.ConflictError) as refused:
            client.completions.create(model=f"{gone.name}-m0", prompt="Markets", max_tokens=2, temperature=0)
        message = refused.value.body["message"]
        assert f"adapter '{gone.name}-m0' cannot answer: the run files its receipts need under {gone}" in message
        assert "provenance.json" in message and "restore the run directory" in message
        # the whole run directory deleted: an adapter not loaded yet is refused before anything is read
        shutil.rmtree(gone)
        with pytest.raises(openai.ConflictError, match=rf"adapter '{gone.name}-m1' cannot answer: its adapter "
                           r"files .* is missing\); restore the run directory"):  # fmt: skip
            client.chat.completions.create(model=f"{gone.name}-m1", messages=[{"role": "user", "content": "x"}],
                                           max_tokens=2)  # fmt: skip
        answer = client.completions.create(model=other, prompt="Markets", max_tokens=2, temperature=0)
        stored = requests.get(f"{live.url}/receipts/{answer.receipt_id}", timeout=60)
        assert stored.status_code == 200 and stored.json()["receipt_id"] == answer.receipt_id
        assert live.proc.poll() is None
    finally:
        live.stop()
        shutil.rmtree(gone, ignore_errors=True)


def test_an_unforeseen_error_is_a_json_500_with_a_request_id_and_the_server_keeps_serving(runs, caplog) -> None:
    server = Server([runs["lm_r4"]])
    secret_url = "https://user:hunter2@node.example/rpc"

    def broken(job):
        raise RuntimeError(f"engine fell over talking to {secret_url}")

    server.engine.submit = broken
    try:
        client = TestClient(server.app)
        name = f"{runs['lm_r4'].name}-m0"
        with caplog.at_level(logging.ERROR, logger="olab.serve"):
            r = client.post("/v1/completions", json={"model": name, "prompt": "x", "max_tokens": 2})
        assert r.status_code == 500 and r.json()["error"]["type"] == "InternalServerError"
        message = r.json()["error"]["message"]
        rid = message.split("request id ")[1].split(")")[0]
        assert len(rid) == 16 and "Traceback" not in r.text and "fell over" not in r.text
        logged = "\n".join(rec.getMessage() for rec in caplog.records)
        assert f"request {rid} (POST /v1/completions) failed" in logged and "RuntimeError: engine fell over" in logged
        assert "hunter2" not in logged and "https://***@node.example" in logged
        assert client.get("/v1/models").status_code == 200
    finally:
        server.close()
