"""Device and precision selection, for every stage that runs a model (fine-tuning, attribution).

`device`: auto (CUDA when present, else CPU) | cpu | cuda. `precision`: auto | fp32 | bf16 | fp16, the
autocast dtype of forward passes; auto is fp32 on the CPU and bf16 on a GPU that supports it. A GPU without
bf16 gets fp16 where the stage scales its loss (fine-tuning), fp32 where it does not (attribution).
"""

from __future__ import annotations

from typing import Literal

import torch

from olab.errors import ConfigError

AUTOCAST = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_device(device: str, section: str) -> torch.device:
    """'auto' -> CUDA when available, else CPU; 'cuda' without a GPU is a config error naming `section.device`."""
    cuda = torch.cuda.is_available()
    if device == "cuda" and not cuda:
        raise ConfigError(f"{section}.device='cuda' but no CUDA device is available; use 'auto' or 'cpu'")
    return torch.device("cuda" if device == "cuda" or (device == "auto" and cuda) else "cpu")


def resolve_precision(
    precision: str, device: torch.device, section: str, *, without_bf16: Literal["fp16", "fp32"]
) -> str:
    """The precision name 'auto' stands for on `device` (`without_bf16` on a GPU lacking bf16); fp16 needs CUDA."""
    if precision == "auto":
        if device.type != "cuda":
            return "fp32"
        return "bf16" if torch.cuda.is_bf16_supported() else without_bf16
    if precision == "fp16" and device.type != "cuda":
        raise ConfigError(f"{section}.precision='fp16' needs a CUDA device; use 'fp32' or 'bf16' on the CPU")
    return precision


def autocast(device: torch.device, precision: str) -> torch.autocast:
    """The autocast context for `precision` on `device` (disabled for fp32)."""
    dtype = AUTOCAST[precision]
    return torch.autocast(device.type, dtype=dtype, enabled=dtype is not None)
