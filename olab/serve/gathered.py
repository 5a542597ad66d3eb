"""Gathered LoRA for mixed-adapter batches: one batched matmul per layer, whatever the number of adapters.

PEFT runs a mixed batch (`adapter_names=`, one adapter per row) by looping over the distinct adapters of the batch in
every LoRA layer: a sub-batch each, gathered, projected through that adapter's A and B and added back. With many
adapters and a small base that loop is most of the time. Here the resident adapters' A and B matrices are stacked
(ranks zero-padded to the largest; the scaling folded into B) and indexed per row, so each layer does two batched
matmuls for the whole batch: the BGMV of Punica and S-LoRA, written in torch. The zero padding contributes exact
zeros; the sums run in another order than PEFT's, so outputs agree with PEFT's to float rounding, not bit for bit.

`install(peft_model)` swaps the mixed-batch method of every plain LoRA `Linear` layer (no DoRA or other variant, no
dropout at inference); other layers keep PEFT's. Each layer keeps the stacks of all its adapters (the resident ones:
rebuilt when one is loaded, unloaded or changed, not per batch), and the rows gathered from them for the current batch,
so the decoding steps of one generate call gather once. That costs batch x r_max x (d_in + d_out) per LoRA layer
(SmolLM2-135M, q and v, batch 32, r 8: 70 MB in float32), held until the next batch.
"""

from __future__ import annotations

import types
from typing import Any

import torch

BASE = "__base__"  # PEFT's name for "no adapter" in adapter_names


def install(model: Any) -> int:
    """Use the gathered forward in every plain LoRA Linear layer of `model`; returns how many layers."""
    from peft.tuners.lora.layer import Linear

    n = 0
    for module in model.modules():
        if isinstance(module, Linear) and not getattr(module, "lora_variant", None):
            module._mixed_batch_forward = types.MethodType(_gathered_forward, module)
            n += 1
    return n


def _gathered_forward(self: Any, x: torch.Tensor, *args: Any, adapter_names: list[str], **kwargs: Any) -> torch.Tensor:
    from peft.tuners.lora.layer import VARIANT_KWARG_KEYS

    names = [n for n in dict.fromkeys(adapter_names) if n != BASE and n in self.lora_A]
    variant = {k: kwargs.pop(k) for k in VARIANT_KWARG_KEYS if k in kwargs}  # not for the base layer
    if any(v is not None for v in variant.values()) or any(self.lora_B[n].bias is not None for n in names):
        # a variant's arguments (aLoRA offsets) or LoRA with a bias (lora_bias=True): PEFT's own loop
        return type(self)._mixed_batch_forward(self, x, *args, adapter_names=adapter_names, **variant, **kwargs)
    result = self.base_layer(x, *args, **kwargs)
    if not names:
        return result
    a, b = _rows(self, tuple(adapter_names))
    rows = x.to(a.dtype).reshape(x.shape[0], -1, x.shape[-1])  # (batch, tokens, d_in)
    out = torch.bmm(torch.bmm(rows, a), b)  # (batch, tokens, r) then (batch, tokens, d_out)
    return result + out.reshape(*result.shape).to(result.dtype)


def _rows(layer: Any, rows: tuple[str, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """Each row's A^T (batch, d_in, r_max) and scaled B^T (batch, r_max, d_out), zeros for "__base__" or an adapter
    this layer lacks. Kept while the rows and the stacks stay the same (every decoding step of one generate call)."""
    slot, a, b = _stacks(layer)
    cached = getattr(layer, "_olab_rows", None)
    if cached is None or cached[0] != rows or cached[1] is not a:
        index = torch.tensor([slot.get(n, 0) for n in rows], device=a.device)
        cached = (rows, a, a[index].transpose(1, 2), b[index].transpose(1, 2))
        layer._olab_rows = cached
    return cached[2], cached[3]


def _stacks(layer: Any) -> tuple[dict[str, int], torch.Tensor, torch.Tensor]:
    """Every adapter of the layer stacked: each name's slot, A (n+1, r_max, d_in) and B (n+1, d_out, r_max) over
    [zeros, *adapters], the scaling in B. Rebuilt when an adapter is added, removed or its weights change."""
    key = tuple((n, id(layer.lora_A[n].weight), layer.lora_A[n].weight._version, id(layer.lora_B[n].weight),
                 layer.lora_B[n].weight._version, layer.scaling[n]) for n in layer.lora_A)  # fmt: skip
    cached = getattr(layer, "_olab_stacks", None)
    if cached is None or cached[0] != key:
        cached = (key, *_stack(layer))
        layer._olab_stacks = cached
    return cached[1], cached[2], cached[3]


@torch.no_grad()
def _stack(layer: Any) -> tuple[dict[str, int], torch.Tensor, torch.Tensor]:
    names = list(layer.lora_A)
    first = layer.lora_A[names[0]].weight
    r_max = max(layer.lora_A[n].weight.shape[0] for n in names)
    d_in, d_out = first.shape[1], layer.lora_B[names[0]].weight.shape[0]
    a = torch.zeros(len(names) + 1, r_max, d_in, dtype=first.dtype, device=first.device)
    b = torch.zeros(len(names) + 1, d_out, r_max, dtype=first.dtype, device=first.device)
    for i, n in enumerate(names, start=1):
        wa, wb = layer.lora_A[n].weight, layer.lora_B[n].weight
        a[i, : wa.shape[0]] = wa
        b[i, :, : wb.shape[1]] = wb * layer.scaling[n]
    return {n: i for i, n in enumerate(names, start=1)}, a, b
