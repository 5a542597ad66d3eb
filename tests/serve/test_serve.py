"""`olab serve` over real runs, driven by the official `openai` client against 127.0.0.1: every adapter of every run
listed, completions and chat from many adapters, classification, and a clear 4xx (never a 500) for bad requests
while the server keeps serving."""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import openai
import pytest
import requests
import torch

from olab.pipeline import Run


def _served(runs: dict[str, Path], key: str) -> list[str]:
    run = Run.open(runs[key])
    return [f"{run.dir.name}-m{i}" for i in range(len(run.manifest.adapter.models))]


def test_models_lists_every_member_adapter_with_its_committed_hash(server, runs) -> None:
    client = openai.OpenAI(base_url=server.url, api_key="unused")
    cards = {m.id: m for m in client.models.list().data}
    for key in runs:
        manifest = Run.open(runs[key]).manifest
        for name, committed in zip(_served(runs, key), manifest.adapter.models, strict=True):
            card = cards[name].model_dump()
            assert card["adapter_hash"] == committed and card["run_id"] == manifest.run_id
    assert len(cards) == 4 + 4 + 1 + 4  # the altered copy is listed too: it is refused when used


def test_completions_and_chat_from_eight_adapters_at_once(server, runs) -> None:
    client = openai.OpenAI(base_url=server.url, api_key="unused")
    names = _served(runs, "lm_r4") + _served(runs, "lm_r8")
    assert len(names) == 8

    def ask(i_name: tuple[int, str]) -> tuple[str, str]:
        i, name = i_name
        if i % 2:
            r = client.chat.completions.create(model=name, messages=[{"role": "user", "content": "Sports headline"}],
                                               max_tokens=6, temperature=0)  # fmt: skip
            return r.model, r.choices[0].message.content
        r = client.completions.create(model=name, prompt="Markets today", max_tokens=6, temperature=0)
        assert r.usage.completion_tokens <= 6 and r.choices[0].finish_reason in ("stop", "length")
        return r.model, r.choices[0].text

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(ask, enumerate(names)))
    assert [m for m, _ in answers] == names and all(isinstance(text, str) for _, text in answers)
    # greedy answers are repeatable, batched with others or alone
    assert ask((0, names[0])) == answers[0] and ask((1, names[1])) == answers[1]


def test_classify_answers_with_the_adapters_labels(server, runs) -> None:
    (name,) = _served(runs, "clf")
    body = requests.post(f"{server.url}/classify", json={"model": name, "input": ["Stocks fall", "Team wins"]},
                         timeout=120).json()  # fmt: skip
    assert [d["index"] for d in body["data"]] == [0, 1]
    for d in body["data"]:
        assert d["label"] in d["labels"] and sum(d["probs"]) == pytest.approx(1.0, abs=1e-5)
        assert d["label"] == d["labels"][max(range(d["num_classes"]), key=d["probs"].__getitem__)]


def _post(server, path: str, body: bytes | dict) -> requests.Response:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return requests.post(f"{server.url}{path}", data=data, headers={"content-type": "application/json"}, timeout=120)


def test_bad_requests_get_a_clear_4xx_and_the_server_keeps_serving(server, runs, altered_run) -> None:
    client = openai.OpenAI(base_url=server.url, api_key="unused", max_retries=0)
    lm = _served(runs, "lm_r4")[0]
    with pytest.raises(openai.NotFoundError, match="not served here"):
        client.completions.create(model="no-such-adapter", prompt="x", max_tokens=2)
    with pytest.raises(openai.BadRequestError, match="max_prompt_tokens"):
        client.completions.create(model=lm, prompt="word " * 2000, max_tokens=2)
    with pytest.raises(openai.BadRequestError, match="max_tokens=100000 is over"):
        client.completions.create(model=lm, prompt="x", max_tokens=100000)
    with pytest.raises(openai.BadRequestError, match="context of 512 tokens"):
        client.completions.create(model=lm, prompt="x" * 400, max_tokens=200)
    altered = f"{altered_run.name}-m0"
    with pytest.raises(openai.ConflictError, match=r"hash to sha256:.* but run .* committed sha256:"):
        client.chat.completions.create(model=altered, messages=[{"role": "user", "content": "x"}], max_tokens=2)
    cases = {
        b"{not json": "not valid JSON",
        b'{"model": "%s"}' % lm.encode(): "prompt",
        b'{"model": "%s", "prompt": "x", "max_tokens": -1}' % lm.encode(): "max_tokens",
        b'{"model": "%s", "prompt": "x", "stream": true}' % lm.encode(): "stream=true is not supported",
        b'{"model": "%s", "prompt": "x", "bogus": 1}' % lm.encode(): "bogus",
    }
    for body, needle in cases.items():
        r = _post(server, "/completions", body)
        assert r.status_code == 400 and needle in r.json()["error"]["message"], (body, r.text)
    r = _post(server, "/classify", {"model": lm, "input": "x"})
    assert r.status_code == 400 and "/v1/completions" in r.json()["error"]["message"]
    r = _post(server, "/completions", b"{" + b" " * (2 << 20) + b"}")
    assert r.status_code == 413 and "max_body_bytes" in r.json()["error"]["message"]
    # the other adapters of the altered run's source still answer, and so does the first one
    assert client.completions.create(model=lm, prompt="x", max_tokens=2, temperature=0).choices[0].text is not None
    assert server.proc.poll() is None


def test_serve_refuses_a_directory_that_is_not_a_run(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "olab.cli", "serve", str(tmp_path)], capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert proc.returncode == 2 and "is not a run directory" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without a GPU")
def test_serve_on_cuda_without_a_gpu_is_refused_clearly(runs) -> None:
    proc = subprocess.run([sys.executable, "-m", "olab.cli", "serve", str(runs["clf"]), "--device", "cuda",
                           "--port", "0"], cwd=runs["clf"].parent.parent, capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert proc.returncode == 2 and "serve.device='cuda'" in proc.stderr and "Traceback" not in proc.stderr


def test_the_base_model_goes_where_the_server_is_told(runs) -> None:
    from olab.serve.registry import Registry, register_runs

    registry = Registry(register_runs([runs["clf"]]), device="cpu", precision="bf16")
    resident = registry.base(next(iter(registry.adapters)))
    params = list(resident.model.parameters())
    assert {p.device.type for p in params} == {"cpu"}
    assert torch.bfloat16 in {p.dtype for p in params}  # the base's weights; PEFT keeps the LoRA weights in fp32
    with torch.no_grad():
        logits = resident.model(**resident.tokenizer(["Stocks fall"], return_tensors="pt")).logits
    assert logits.shape[0] == 1 and torch.isfinite(logits.float()).all()
