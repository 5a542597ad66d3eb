"""`olab serve`'s settings: where it listens, its request limits and its batching."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class ServeConfig(BaseModel):
    """Limits and batching of `olab serve` (defaults here and nowhere else)."""

    host: str = Field("127.0.0.1", description="address to listen on")
    port: int = Field(8000, ge=0, le=65535, description="port to listen on")
    max_prompt_tokens: int = Field(512, ge=1, description="longest prompt accepted, in tokens")
    max_tokens: int = Field(256, ge=1, description="most new tokens a request may ask for")
    default_max_tokens: int = Field(16, ge=1, description="new tokens when a request does not say (OpenAI's default)")
    max_batch: int = Field(32, ge=1, description="most requests run in one mixed-adapter batch")
    max_resident: int = Field(
        32, ge=1, description="most adapters loaded on the base model(s) at once; the least recently used one unloads"
    )
    max_wait_ms: float = Field(10.0, ge=0, description="how long the batcher waits for more requests")
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="where the base model and the receipts' scoring run: auto is CUDA when present, else CPU"
    )
    precision: Literal["auto", "fp32", "bf16", "fp16"] = Field(
        "auto", description="the base model's weights for answering: auto is fp32 on the CPU, bf16 (else fp16) on a GPU"
    )
    max_body_bytes: int = Field(1 << 20, ge=1, description="largest request body accepted")
    receipts: str | None = Field(
        None,
        description="SQLite file of the receipt store; set, every answer gets a signed receipt (key: $OLAB_SERVE_KEY)",
    )
    top_k: int = Field(10, ge=1, description="training records a receipt names")
    fee: int = Field(0, ge=0, description="fee charged per answer, in the reward token's base units")
