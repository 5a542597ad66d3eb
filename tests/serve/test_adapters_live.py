"""Changing what a live `olab serve` serves without a restart, against a real server on 127.0.0.1 driven by the
`openai` client and requests: POST /v1/adapters registers a run's adapters (admin bearer token only; a missing run, a run
whose files or on-chain commitment disagree, or a name clash gets a 4xx naming it), DELETE /v1/adapters/{id} removes
one (requests already in flight finish; later ones get 404), and at most --max-resident adapters are loaded at once.
A run whose manifest was changed to commit another adapter is refused with a 409 naming the run, the chain and the
mismatch (the embedded chain still holds the commitment the run published)."""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import openai
import pytest
import requests
from serve_helpers import LiveServer

from olab.hashing import hash_json
from olab.io import atomic_write_json, read_json
from olab.pipeline import Run
from olab.serve.app import ADMIN_TOKEN_ENV

TOKEN = "admin-" + "7f" * 16


def _names(run_dir: Path) -> list[str]:
    return [f"{run_dir.name}-m{i}" for i in range(len(Run.open(run_dir).manifest.adapter.models))]


@pytest.fixture(scope="module")
def swapped(runs: dict[str, Path]) -> Path:
    """A copy of the r=4 run (in its project) whose member 0 was replaced by member 1, its manifest rewritten to
    commit the new files: the files hash to what the manifest says, but not to what the chain holds for the run."""
    copy = runs["lm_r4"].parent / "swapped000000000"
    shutil.copytree(runs["lm_r4"], copy)
    shutil.rmtree(copy / "adapters" / "model-0")
    shutil.copytree(copy / "adapters" / "model-1", copy / "adapters" / "model-0")
    manifest = read_json(copy / "manifest.json")
    models = manifest["adapter"]["models"]
    models[0] = models[1]
    manifest["adapter"]["hash"] = hash_json(models)
    atomic_write_json(copy / "manifest.json", manifest)
    return copy


@pytest.fixture(scope="module")
def live(runs: dict[str, Path], swapped: Path) -> LiveServer:
    server = LiveServer([runs["clf"], swapped], "--max-resident", "2", env={**os.environ, ADMIN_TOKEN_ENV: TOKEN})
    yield server
    server.stop()


def _admin(live: LiveServer, method: str, path: str, token: str | None = TOKEN, **kw) -> requests.Response:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    return requests.request(method, f"{live.url}{path}", headers=headers, timeout=300, **kw)


def test_a_run_whose_commitment_on_chain_disagrees_is_refused_with_409(live, swapped, runs) -> None:
    client = openai.OpenAI(base_url=live.url, api_key="unused", max_retries=0)
    run = Run.open(runs["lm_r4"]).manifest
    with pytest.raises(openai.ConflictError) as refused:
        client.completions.create(model=f"{swapped.name}-m0", prompt="Markets", max_tokens=2)
    message = refused.value.body["message"]
    assert f"run {run.run_id} ({swapped})" in message and f"chain {run.chain.chain_id} (embedded)" in message
    assert f"adapter_hash: on-chain 0x{run.adapter.hash.removeprefix('sha256:')}" in message, message
    # registered at run time, it is refused before anything is added
    r = _admin(live, "POST", "/adapters", json={"run_dir": str(swapped)})
    assert r.status_code == 409 and f"chain {run.chain.chain_id}" in r.json()["error"]["message"]


def test_adapters_are_added_and_removed_at_run_time(live, runs, altered_run, tmp_path) -> None:
    client = openai.OpenAI(base_url=live.url, api_key="unused", max_retries=0)
    lm = _names(runs["lm_r4"])
    assert not set(lm) & {m.id for m in client.models.list().data}

    # only with the admin token, which no answer repeats
    for token in (None, "wrong"):
        r = _admin(live, "POST", "/adapters", token=token, json={"run_dir": str(runs["lm_r4"])})
        assert r.status_code == 401 and ADMIN_TOKEN_ENV in r.json()["error"]["message"] and TOKEN not in r.text
    # a missing or bad run, altered files, a name clash: a 4xx naming it, nothing registered
    r = _admin(live, "POST", "/adapters", json={"run_dir": str(tmp_path / "nowhere")})
    assert r.status_code == 400 and "has no manifest.json" in r.json()["error"]["message"]
    r = _admin(live, "POST", "/adapters", json={"path": "x"})
    assert r.status_code == 400 and "run_dir" in r.json()["error"]["message"]
    r = _admin(live, "POST", "/adapters", json={"run_dir": str(altered_run)})
    assert r.status_code == 409 and "hash to" in r.json()["error"]["message"]
    clash = tmp_path / "elsewhere" / runs["clf"].name
    shutil.copytree(runs["clf"], clash)
    r = _admin(live, "POST", "/adapters", json={"run_dir": str(clash)})
    assert r.status_code == 409 and "is served already" in r.json()["error"]["message"]
    assert not set(lm) & {m.id for m in client.models.list().data}

    r = _admin(live, "POST", "/adapters", json={"run_dir": str(runs["lm_r4"])})
    assert r.status_code == 200 and [c["id"] for c in r.json()["data"]] == lm
    listed = {m.id: m.model_dump() for m in client.models.list().data}
    assert set(lm) <= set(listed) and not any(listed[n]["resident"] for n in lm)  # registered, none loaded yet

    def ask(name: str) -> str:
        return (
            client.completions.create(model=name, prompt="Markets today", max_tokens=4, temperature=0).choices[0].text
        )

    first = [ask(n) for n in lm]
    assert [ask(n) for n in reversed(lm)] == first[::-1]  # 4 adapters through 2 resident slots, same answers
    assert sum(m.model_dump()["resident"] for m in client.models.list().data) <= 2

    # DELETE while requests for it are in flight: each finishes with an answer or a 404, nothing else
    gone, statuses = lm[0], []

    def hammer() -> None:
        for _ in range(6):
            try:
                statuses.append(ask(gone) == first[0])
            except openai.NotFoundError:
                statuses.append("404")

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    r = _admin(live, "DELETE", f"/adapters/{gone}")
    for t in threads:
        t.join()
    assert r.status_code == 200 and r.json()["deleted"] is True
    assert set(statuses) <= {True, "404"} and len(statuses) == 24
    with pytest.raises(openai.NotFoundError, match="not served here"):
        ask(gone)
    assert gone not in {m.id for m in client.models.list().data}
    assert [ask(n) for n in lm[1:]] == first[1:]  # the others still answer, unchanged
    assert _admin(live, "DELETE", f"/adapters/{gone}").status_code == 404
