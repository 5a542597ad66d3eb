"""The HTTP server: FastAPI endpoints in OpenAI's shapes (olab.serve.protocol) over the adapter registry and the
batching engine. Every refusal is a 4xx with OpenAI's error body naming what is wrong; anything unforeseen is a
JSON 500 with a request id (its traceback only in the server's log), never a bare 500, and the server keeps serving.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
import threading
import traceback
import uuid
from collections import OrderedDict
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from olab.devices import resolve_device, resolve_precision
from olab.errors import OlabError
from olab.secrets import redact
from olab.serve.config import ServeConfig
from olab.serve.engine import Engine, Generated, Job
from olab.serve.protocol import (
    AdaptersRequest,
    AssistantMessage,
    ChatChoice,
    ChatCompletionRequest,
    ChatCompletionResponse,
    ChatMessage,
    ClassifyData,
    ClassifyRequest,
    ClassifyResponse,
    CompletionChoice,
    CompletionRequest,
    CompletionResponse,
    ErrorResponse,
    ModelCard,
    ModelList,
    Usage,
)
from olab.serve.registry import Registry, RequestError, ServedAdapter, register_runs, unreadable

log = logging.getLogger("olab.serve")
ADMIN_TOKEN_ENV = "OLAB_SERVE_ADMIN_TOKEN"  # bearer token for POST/DELETE /v1/adapters; unset: those are off


def _error(status: int, message: str, kind: str, param: str | None = None) -> JSONResponse:
    return JSONResponse(ErrorResponse.of(status, message, kind, param), status_code=status)


def _validation_message(exc: RequestValidationError) -> tuple[str, str | None]:
    first = exc.errors()[0] if exc.errors() else {}
    if first.get("type") == "json_invalid":
        return f"the request body is not valid JSON ({first.get('ctx', {}).get('error', 'parse error')})", None
    loc = [str(p) for p in first.get("loc", ()) if p != "body"]
    field = ".".join(loc) or None
    return f"invalid request: {field or 'body'}: {first.get('msg', 'invalid value')}", field


def chat_prompt(tokenizer: Any, messages: list[ChatMessage]) -> str:
    """The chat rendered as training rendered instruction records (olab.adapters.chat): the tokenizer's chat template
    with the assistant header, or, without a template, the turns' text each followed by a newline."""
    turns = [m.model_dump() for m in messages]
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(turns, tokenize=False, add_generation_prompt=True)
    return "".join(f"{m.content}\n" for m in messages)


class Server:
    """One process: the registry of adapters, the engine, the FastAPI app (`.app`)."""

    def __init__(self, run_dirs: list[str | Path], config: ServeConfig | None = None) -> None:
        self.config = config or ServeConfig()
        device = resolve_device(self.config.device, "serve")
        precision = resolve_precision(self.config.precision, device, "serve", without_bf16="fp16")
        self.registry = Registry(register_runs(run_dirs), self.config.max_resident, device.type, precision)
        self._admin_token = os.environ.get(ADMIN_TOKEN_ENV) or None
        self.engine = Engine(self.registry, max_batch=self.config.max_batch, max_wait_ms=self.config.max_wait_ms)
        self.receipts = Receipts(self.registry, self.config) if self.config.receipts else None
        self.app = self._build()

    def _build(self) -> FastAPI:
        app = FastAPI(title="olab serve", version="1")

        @app.exception_handler(RequestValidationError)
        async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
            return _error(400, *_with_kind(_validation_message(exc)))

        @app.exception_handler(RequestError)
        async def _refused(request: Request, exc: RequestError) -> JSONResponse:
            return _error(exc.status, str(exc), exc.kind, exc.param)

        @app.middleware("http")
        async def _last_resort(request: Request, call_next: Any) -> Any:
            # anything no handler above mapped: a JSON error with an id, the traceback only in the server's log
            try:
                return await call_next(request)
            except Exception:
                rid = uuid.uuid4().hex[:16]
                log.error("request %s (%s %s) failed:\n%s", rid, request.method, request.url.path,
                          redact(traceback.format_exc()))  # fmt: skip
                return _error(500, f"internal error in olab serve (request id {rid}); the server logged the details "
                              "under that id and keeps serving", "InternalServerError")  # fmt: skip

        @app.middleware("http")
        async def _limit_body(request: Request, call_next: Any) -> Any:
            size = request.headers.get("content-length")
            if size is not None and size.isdigit() and int(size) > self.config.max_body_bytes:
                return _error(413, f"request body of {size} bytes is over the limit of "
                              f"{self.config.max_body_bytes} bytes (max_body_bytes)", "PayloadTooLargeError")  # fmt: skip
            return await call_next(request)

        @app.get("/v1/models")
        async def models() -> ModelList:
            return self._cards(self.registry.adapters)

        @app.post("/v1/adapters")
        async def add_adapters(req: AdaptersRequest, request: Request) -> ModelList:
            self._admin(request)
            return await asyncio.to_thread(self._add_run, req.run_dir)

        @app.delete("/v1/adapters/{name}")
        async def remove_adapter(name: str, request: Request) -> dict[str, Any]:
            self._admin(request)
            served = await asyncio.to_thread(self.registry.remove, name)
            if self.receipts is not None:
                self.receipts.forget(served)
            return {"id": name, "object": "model", "deleted": True}

        @app.post("/v1/completions")
        async def completions(req: CompletionRequest) -> CompletionResponse:
            served, res = await self._resident(req.model, "causal_lm")
            ids = self._prompt_ids(res.tokenizer, req.prompt)
            out: Generated = await self._run(self._gen_job(req, ids, res.model, served))
            receipt = await self._receipt(served, {"kind": "completion"}, req.prompt, out.text)
            return CompletionResponse(
                model=req.model, choices=[CompletionChoice(text=out.text, finish_reason=out.finish_reason)],
                usage=_usage(len(ids), out.completion_tokens), receipt_id=receipt,
            )  # fmt: skip

        @app.post("/v1/chat/completions")
        async def chat(req: ChatCompletionRequest) -> ChatCompletionResponse:
            served, res = await self._resident(req.model, "causal_lm")
            ids = self._prompt_ids(res.tokenizer, chat_prompt(res.tokenizer, req.messages))
            out: Generated = await self._run(self._gen_job(req, ids, res.model, served))
            asked = "\n".join(m.content for m in req.messages if m.role == "user")
            receipt = await self._receipt(served, {"kind": "chat"}, asked, out.text)
            return ChatCompletionResponse(
                model=req.model, choices=[ChatChoice(message=AssistantMessage(content=out.text),
                                                     finish_reason=out.finish_reason)],
                usage=_usage(len(ids), out.completion_tokens), receipt_id=receipt,
            )  # fmt: skip

        @app.post("/v1/classify")
        async def classify(req: ClassifyRequest) -> ClassifyResponse:
            try:
                texts = req.texts()
            except ValueError as e:
                raise RequestError(400, str(e), "input") from None
            served, res = await self._resident(req.model, "classification")
            lengths = [len(self._prompt_ids(res.tokenizer, t, add_special_tokens=True)) for t in texts]
            probs = await self._run(Job(adapter=req.model, kind="classify", texts=texts, served=served))
            labels = list(served.labels)
            data = []
            for i, (text, p) in enumerate(zip(texts, probs, strict=True)):
                best = max(range(len(p)), key=p.__getitem__)
                receipt = await self._receipt(served, {"kind": "classify", "label": best}, text, labels[best])
                data.append(ClassifyData(index=i, label=labels[best], probs=p, labels=labels, num_classes=len(labels),
                                         receipt_id=receipt))  # fmt: skip
            return ClassifyResponse(model=req.model, data=data, usage=_usage(sum(lengths), 0))

        @app.get("/v1/receipts/{receipt_id}")
        async def receipt(receipt_id: str) -> dict[str, Any]:
            found = self.receipts.store.get(receipt_id) if self.receipts else None
            if found is None:
                why = "" if self.receipts else " (this server keeps no receipts: start it with --receipts FILE)"
                raise RequestError(404, f"no receipt {receipt_id!r}{why}", "receipt_id")
            return found

        return app

    def _cards(self, adapters: dict[str, ServedAdapter]) -> ModelList:
        resident = set(self.registry.resident_names)
        return ModelList(data=[
            ModelCard(id=a.name, root=str(a.path), parent=a.base, task=a.task, run_id=a.run_id,
                      adapter_hash=a.committed_hash, resident=a.name in resident)
            for a in adapters.values()
        ])  # fmt: skip

    def _admin(self, request: Request) -> None:
        """Changing what is served reads files from this machine's disk: only with the admin bearer token."""
        if self._admin_token is None:
            raise RequestError(403, f"adding and removing adapters at run time is off: start olab serve with "
                               f"${ADMIN_TOKEN_ENV} set and send it as 'Authorization: Bearer <token>'")  # fmt: skip
        given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), self._admin_token.encode()):
            raise RequestError(401, f"POST/DELETE /v1/adapters need 'Authorization: Bearer <token>' with the token "
                               f"in the server's ${ADMIN_TOKEN_ENV}; the request's is missing or wrong")  # fmt: skip

    def _add_run(self, run_dir: str) -> ModelList:
        """Register every member adapter of `run_dir` after checking each as a load would (files against the run's
        commitment, the run against its chain record): all of them, or none with a 4xx naming what is wrong."""
        try:
            found = register_runs([run_dir])
        except (OlabError, OSError, KeyError, ValueError) as e:
            raise RequestError(400, f"run_dir {run_dir!r} cannot be served: {e}", "run_dir") from None
        self.registry.clash(found)
        for served in found.values():
            self.registry.verify(served)
        if self.receipts is not None:
            try:
                self.receipts.open_runs(found.values())
            except (OlabError, OSError) as e:
                raise RequestError(
                    400, f"run_dir {run_dir!r}: its receipts cannot be proven ({e})", "run_dir"
                ) from None
        self.registry.add(found)
        return self._cards(found)

    async def _receipt(self, served: ServedAdapter, example: dict[str, Any], prompt: str, output: str) -> str | None:
        """Sign and store the answer's receipt (durable before the response goes out); its id, or None."""
        if self.receipts is None:
            return None
        return await asyncio.to_thread(self.receipts.issue, served, example, prompt, output)

    async def _resident(self, name: str, task: str) -> tuple[ServedAdapter, Any]:
        """The adapter a request names, and the base model it runs on (the adapter itself loads in its batch)."""
        served = self.registry.get(name)
        if served.task != task:
            endpoint = "/v1/classify" if served.task == "classification" else "/v1/completions or /v1/chat/completions"
            raise RequestError(400, f"model {name!r} is a {served.task} adapter; send it to {endpoint}", "model")
        return served, await asyncio.to_thread(self.registry.base, name)

    def _prompt_ids(self, tokenizer: Any, text: str, add_special_tokens: bool = False) -> list[int]:
        ids = tokenizer(text, add_special_tokens=add_special_tokens)["input_ids"]
        if len(ids) > self.config.max_prompt_tokens:
            raise RequestError(
                400, f"the prompt is {len(ids)} tokens, over this server's limit of {self.config.max_prompt_tokens} "
                "(max_prompt_tokens); send a shorter prompt", "prompt",
            )  # fmt: skip
        return ids

    def _gen_job(
        self, req: CompletionRequest | ChatCompletionRequest, ids: list[int], model: Any, served: ServedAdapter
    ) -> Job:
        max_tokens = req.max_tokens or self.config.default_max_tokens
        if max_tokens > self.config.max_tokens:
            raise RequestError(
                400, f"max_tokens={max_tokens} is over this server's limit of {self.config.max_tokens}; ask for "
                "fewer new tokens", "max_tokens",
            )  # fmt: skip
        context = getattr(model.config, "max_position_embeddings", None) or getattr(model.config, "n_positions", None)
        if context is not None and len(ids) + max_tokens > context:
            raise RequestError(
                400, f"the prompt ({len(ids)} tokens) plus max_tokens={max_tokens} is over the model's context of "
                f"{context} tokens; shorten the prompt or ask for fewer new tokens", "max_tokens",
            )  # fmt: skip
        return Job(adapter=req.model, kind="generate", ids=ids, max_tokens=max_tokens, temperature=req.temperature,
                   top_p=req.top_p, seed=req.seed, stops=req.stops(), served=served)  # fmt: skip

    async def _run(self, job: Job) -> Any:
        return await asyncio.wrap_future(self.engine.submit(job))

    def close(self) -> None:
        self.engine.close()
        if self.receipts is not None:
            self.receipts.store.close()


class Receipts:
    """Issues receipts: one AnswerScorer per served adapter (its training side prepared on first use), the signing
    key from the environment, the append-only store."""

    def __init__(self, registry: Registry, config: ServeConfig) -> None:
        from olab.serve.receipts import signing_key
        from olab.serve.store import open_store

        self.registry, self.config = registry, config
        self.account = signing_key()
        self._runs: dict[Path, Any] = {}
        # (scorer, its scoring lock) per adapter: at most max_resident, least recent first
        self._scorers: OrderedDict[ServedAdapter, tuple[Any, threading.Lock]] = OrderedDict()
        self._preparing: dict[ServedAdapter, threading.Lock] = {}
        self._lock = threading.Lock()
        self.open_runs(registry.adapters.values())
        self.store = open_store(config.receipts or "")

    def open_runs(self, adapters: Any) -> None:
        """Open the adapters' runs and their Datanets now (receipts prove records against them), not at an answer."""
        from olab.pipeline import Run

        for a in adapters:
            if a.run_dir not in self._runs:
                run = Run.open(a.run_dir)
                run.datanet  # noqa: B018
                with self._lock:
                    self._runs[a.run_dir] = run

    def forget(self, served: ServedAdapter) -> None:
        """Drop a removed adapter's prepared training side (a request it still answers prepares it again)."""
        with self._lock:
            self._scorers.pop(served, None)
            self._preparing.pop(served, None)

    def _prepared(self, served: ServedAdapter) -> tuple[Any, Any, threading.Lock]:
        """(the run, the adapter's AnswerScorer, the lock its scoring takes), preparing the scorer on first use. A
        preparation (minutes for a large run) holds only that adapter's lock: other adapters' receipts go on."""
        from olab.serve.answers import AnswerScorer

        with self._lock:
            run = self._runs[served.run_dir]
            preparing = self._preparing.setdefault(served, threading.Lock())
        with preparing:  # concurrent first answers of one adapter prepare it once
            with self._lock:
                ready = self._scorers.get(served)
                if ready is not None:
                    self._scorers.move_to_end(served)
                    return run, *ready
            scorer = AnswerScorer.prepare(run, served.member, self.registry.device)
            with self._lock:  # a scorer holds its own model: as many as adapters may be resident
                while len(self._scorers) >= self.config.max_resident:
                    self._scorers.popitem(last=False)
                self._scorers[served] = (scorer, threading.Lock())
                return run, *self._scorers[served]

    def issue(self, served: ServedAdapter | str, example: dict[str, Any], prompt: str, output: str) -> str:
        """Score, sign and store the receipt of one answer of `served` (an adapter, or its name); its id."""
        from olab.serve import receipts

        served = self.registry.get(served) if isinstance(served, str) else served
        try:  # the run's adapter, checkpoints and Datanet are read on first use: a deleted run refuses, clearly
            run, scorer, scoring = self._prepared(served)
            with scoring:  # a scorer's featurizer records activations in hooks: one answer at a time per scorer
                scores = scorer.scores(*receipts.example_of(example, prompt, output))[:, 0]
            body = receipts.body(run=run, member=served.member, scores=scores, example=example, prompt=prompt,
                                 output=output, fee=self.config.fee, top_k=self.config.top_k,
                                 scored_on=scorer.device)  # fmt: skip
        except RequestError:
            raise
        except (OSError, OlabError) as e:
            raise unreadable(served, "the run files its receipts need", e) from None
        receipt = receipts.sign(body, self.account, receipts.chain_id_of(run))
        self.store.add({**receipt, "inputs": {"prompt": prompt, "output": output}})
        return receipt["receipt_id"]


def _with_kind(msg: tuple[str, str | None]) -> tuple[str, str, str | None]:
    return msg[0], "BadRequestError", msg[1]


def _usage(prompt: int, completion: int) -> Usage:
    return Usage(prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion)


def serve(run_dirs: list[str | Path], config: ServeConfig | None = None) -> None:
    """Serve the runs' adapters until interrupted (uvicorn, one process)."""
    import uvicorn

    server = Server(run_dirs, config)
    try:
        uvicorn.run(server.app, host=server.config.host, port=server.config.port, log_level="warning")
    finally:
        server.close()
