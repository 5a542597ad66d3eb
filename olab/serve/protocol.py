"""The OpenAI-compatible request and response shapes of `olab serve`, in one place (vLLM's
`entrypoints/openai/protocol.py` shape): pydantic models the endpoints validate against and answer with.

`model` names an adapter (as in vLLM's multi-LoRA server); the fields olab does not implement are refused
with a message rather than silently ignored.
"""

from __future__ import annotations

import time
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class _Request(BaseModel):
    # the OpenAI client sends only the fields a caller set; unknown fields are refused so a typo is not ignored
    model_config = ConfigDict(extra="forbid")

    model: str = Field(description="the adapter to answer with: one id from GET /v1/models")


class _Sampling(_Request):
    max_tokens: int | None = Field(None, ge=1, description="new tokens at most (default: the server's default)")
    temperature: float = Field(1.0, ge=0.0, le=2.0, description="0: greedy; above 0: sampling")
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    n: int = Field(1, ge=1, le=1, description="one choice per request")
    stop: str | list[str] | None = Field(None, description="cut the answer before the first of these strings")
    seed: int | None = Field(None, description="makes sampling repeatable")
    stream: bool = Field(False, description="streaming is not supported: false only")
    user: str | None = None

    @field_validator("stream")
    @classmethod
    def _no_stream(cls, v: bool) -> bool:
        if v:
            raise ValueError("stream=true is not supported by olab serve; send stream=false (the default)")
        return v

    def stops(self) -> list[str]:
        return [self.stop] if isinstance(self.stop, str) else list(self.stop or [])


class CompletionRequest(_Sampling):
    prompt: str = Field(min_length=1, description="the text to continue (one prompt per request)")


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "user", "assistant"]
    content: str


class ChatCompletionRequest(_Sampling):
    messages: list[ChatMessage] = Field(min_length=1)


class ClassifyRequest(_Request):
    input: str | list[str] = Field(description="one text or a list of texts to classify")

    def texts(self) -> list[str]:
        texts = [self.input] if isinstance(self.input, str) else list(self.input)
        if not texts or any(not t for t in texts):
            raise ValueError("input must be a non-empty text or a non-empty list of non-empty texts")
        return texts


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int = 0
    total_tokens: int


def _id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex}"


def _now() -> int:
    return int(time.time())


class _Choice(BaseModel):
    index: int = 0
    finish_reason: Literal["stop", "length"]
    logprobs: None = None


class _Answer(BaseModel):
    created: int = Field(default_factory=_now)
    model: str
    usage: Usage
    receipt_id: str | None = Field(None, description="GET /v1/receipts/{receipt_id}: the answer's signed receipt")


class CompletionChoice(_Choice):
    text: str


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class ChatChoice(_Choice):
    message: AssistantMessage


class ClassifyData(BaseModel):
    index: int
    label: str
    probs: list[float] = Field(description="one probability per class, in class-id order (see labels)")
    labels: list[str]
    num_classes: int
    receipt_id: str | None = None


class CompletionResponse(_Answer):
    id: str = Field(default_factory=lambda: _id("cmpl"))
    object: Literal["text_completion"] = "text_completion"
    choices: list[CompletionChoice]


class ChatCompletionResponse(_Answer):
    id: str = Field(default_factory=lambda: _id("chatcmpl"))
    object: Literal["chat.completion"] = "chat.completion"
    choices: list[ChatChoice]


class ClassifyResponse(_Answer):
    id: str = Field(default_factory=lambda: _id("classify"))
    object: Literal["list"] = "list"
    data: list[ClassifyData]


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int = Field(default_factory=_now)
    owned_by: str = "olab"
    root: str = Field(description="the adapter directory")
    parent: str = Field(description="the base model the adapter applies to")
    task: str
    run_id: str
    adapter_hash: str
    resident: bool = Field(False, description="loaded on the base model now (else it loads on its next request)")


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


class AdaptersRequest(BaseModel):
    """`POST /v1/adapters`: register every member adapter of a run directory written by `olab run`."""

    model_config = ConfigDict(extra="forbid")
    run_dir: str = Field(description="the run directory on the server's disk, e.g. runs/3f2a9c01d4e5b6a7")


class ErrorInfo(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: int


class ErrorResponse(BaseModel):
    error: ErrorInfo

    @classmethod
    def of(cls, status: int, message: str, kind: str, param: str | None = None) -> dict[str, Any]:
        return cls(error=ErrorInfo(message=message, type=kind, param=param, code=status)).model_dump()
