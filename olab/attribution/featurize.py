"""LoRA-native TRAK features: per-example adapter gradients from one batched forward+backward.

Every trainable parameter of a PEFT model lives in an `nn.Linear` (lora_A, lora_B, and heads kept
trainable through `modules_to_save`). For y = x Wᵀ + b the gradient of example i is
dW_i = Σ_t g_{i,t} ⊗ x_{i,t} and db_i = Σ_t g_{i,t}, where g = ∂f/∂y. Forward hooks record each
trainable Linear's input x and output y; one `autograd.grad(Σ_i f_i, ys)` gives all g (examples are
independent, so ∂(Σ f)/∂y_i = ∂f_i/∂y_i); a bmm per module turns them into per-example gradients.
For lora_B this is Σ_t (s·g_t) ⊗ (A x_t) and for lora_A Σ_t (s·Bᵀ g_t) ⊗ x_t, the LoRA scaling s
included by autograd. No vmap, and no gradient is ever formed for frozen weights, nor the batch-
summed gradient of the adapter itself.
"""

from __future__ import annotations

import contextlib
import math
import sys
from collections.abc import Callable, Iterator

import torch
from torch import Tensor, nn

from olab.adapters.chat import labelled_logprob
from olab.attribution.outputs import logprob_margin_and_q, output_and_q
from olab.attribution.projection import Projector
from olab.errors import ConfigError, OlabError

MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


# name segments of the parameters a PEFT LoRA adapter trains and saves
ADAPTER_PARAM_MARKERS = (".lora_A.", ".lora_B.", ".lora_embedding_A.", ".lora_embedding_B.", ".lora_magnitude_vector.",
                         ".modules_to_save.")  # fmt: skip


def mark_adapter_trainable(model: nn.Module) -> nn.Module:
    """Make exactly the adapter's parameters require grad (PEFT loads adapters frozen for inference).

    Models that are not PEFT models keep their own requires_grad flags.
    """
    peft = sys.modules.get("peft")  # a PeftModel exists only once peft is imported; importing it is slow
    if peft is not None and isinstance(model, peft.PeftModel):
        for name, p in model.named_parameters():
            p.requires_grad_(any(m in f".{name}" for m in ADAPTER_PARAM_MARKERS))
    return model


def gradient_layout(model: nn.Module) -> list[tuple[str, nn.Linear, str]]:
    """(parameter name, owning Linear, 'weight'|'bias') for every trainable parameter, in model order.

    Raises when a trainable parameter does not belong to an nn.Linear (e.g. DoRA magnitudes, LoRA on
    embeddings): the hook featurizer cannot compute it, the traker engine can.
    """
    owners = {}
    for mod_name, mod in model.named_modules():
        if isinstance(mod, nn.Linear):
            for kind in ("weight", "bias"):
                p = getattr(mod, kind, None)
                if p is not None and p.requires_grad:
                    owners[f"{mod_name}.{kind}" if mod_name else kind] = (mod, kind)
    layout, unsupported = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        if name in owners:
            layout.append((name, *owners[name]))
        else:
            unsupported.append(name)
    if unsupported:
        raise OlabError(
            f"the olab featurizer handles trainable nn.Linear parameters only (LoRA A/B, linear heads); "
            f"these are not: {unsupported[:5]}; use attribution.engine='traker' for this model"
        )
    if not layout:
        raise OlabError("the model has no trainable parameters to attribute through (is the adapter loaded?)")
    return layout


def gradient_blocks(layout: list[tuple[str, nn.Linear, str]]) -> list[tuple[str, tuple[int, ...]]]:
    """(parameter name, shape) of each block of the per-example gradient, in column order."""
    return [(name, tuple(getattr(mod, kind).shape)) for name, mod, kind in layout]


class _Recorder:
    """Forward hooks that keep (input, output) of each call of the watched Linear modules."""

    def __init__(self, modules: list[nn.Linear]):
        self.calls: dict[nn.Linear, list[tuple[Tensor, Tensor]]] = {m: [] for m in modules}

    @contextlib.contextmanager
    def watching(self) -> Iterator[None]:
        handles = [m.register_forward_hook(self._hook) for m in self.calls]
        try:
            yield
        finally:
            for h in handles:
                h.remove()

    def _hook(self, module: nn.Linear, inputs: tuple[Tensor, ...], output: Tensor) -> None:
        self.calls[module].append((inputs[0], output))

    def clear(self) -> None:
        for calls in self.calls.values():
            calls.clear()


class Featurizer:
    """Per-example gradients of TRAK's output function w.r.t. a model's trainable Linear parameters."""

    def __init__(
        self,
        model: nn.Module,
        task: str,
        projector: Projector | None = None,
        device: torch.device | str = "cpu",
        autocast_dtype: torch.dtype | None = None,
    ):
        self.device = torch.device(device)
        self.model = mark_adapter_trainable(model).to(self.device).eval()
        self.task = task
        self.layout = gradient_layout(self.model)
        self.blocks = gradient_blocks(self.layout)
        self.sizes = [math.prod(shape) for _, shape in self.blocks]
        self.grad_dim = sum(self.sizes)
        self.projector = projector
        if projector is not None and projector.blocks != self.blocks:
            raise OlabError("the projector was built for a different adapter layout than this model's")
        self.autocast_dtype = autocast_dtype
        self._modules = list(dict.fromkeys(mod for _, mod, _ in self.layout))
        self._recorder = _Recorder(self._modules)

    @property
    def dim(self) -> int:
        return self.projector.k if self.projector is not None else self.grad_dim

    def _forward(self, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        inputs = {k: v.to(self.device) for k, v in batch.items() if k in MODEL_INPUTS}
        labels = batch["labels"].to(self.device)
        ctx = (
            torch.autocast(self.device.type, dtype=self.autocast_dtype)
            if self.autocast_dtype is not None
            else contextlib.nullcontext()
        )
        with ctx:
            if self.task == "causal_lm":  # logits only where a labelled token is predicted
                return logprob_margin_and_q(labelled_logprob(self.model, {**inputs, "labels": labels}))
            logits = self.model(**inputs).logits
        return output_and_q(self.task, logits, labels)

    def per_example_grads(self, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        """(grads (B, P) float32, Q (B,)) for one batch, P = the adapter's trainable parameter count."""
        self._recorder.clear()
        with self._recorder.watching(), torch.enable_grad():
            f, q = self._forward(batch)
        try:
            outputs = [y for m in self._modules for _, y in self._recorder.calls[m]]
            gs = torch.autograd.grad(f.sum(), outputs, allow_unused=True)
            with torch.no_grad():
                per_module = self._module_grads(gs, n=f.shape[0])
        finally:
            self._recorder.clear()
        grads = torch.empty(f.shape[0], self.grad_dim, dtype=torch.float32, device=self.device)
        col = 0
        for (_, mod, kind), size in zip(self.layout, self.sizes, strict=True):
            grads[:, col : col + size] = per_module[mod][kind].reshape(f.shape[0], size)
            col += size
        return grads, q.detach().float()

    def _module_grads(self, gs: tuple[Tensor | None, ...], n: int) -> dict[nn.Linear, dict[str, Tensor]]:
        out: dict[nn.Linear, dict[str, Tensor]] = {}
        it = iter(gs)
        for mod in self._modules:
            dw = torch.zeros(n, mod.out_features, mod.in_features, dtype=torch.float32, device=self.device)
            db = torch.zeros(n, mod.out_features, dtype=torch.float32, device=self.device)
            for x, _ in self._recorder.calls[mod]:
                g = next(it)
                if g is None:
                    continue
                g3 = g.reshape(n, -1, mod.out_features).float()
                x3 = x.reshape(n, -1, mod.in_features).float()
                dw.baddbmm_(g3.transpose(1, 2), x3)
                db += g3.sum(dim=1)
            out[mod] = {"weight": dw, "bias": db}
        return out

    def featurize(self, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        """(features (B, k) float32, Q (B,)): projected per-example gradients (unprojected when exact)."""
        grads, q = self.per_example_grads(batch)
        feats = self.projector.project(grads) if self.projector is not None else grads
        return feats, q


# exact TRAK (no projection) keeps a P × P float64 matrix: refuse adapters larger than this
MAX_EXACT_DIM = 16384


def check_exact(grad_dim: int) -> None:
    """Refuse exact (unprojected) TRAK for an adapter whose P × P matrix would not fit, saying what to set."""
    if grad_dim > MAX_EXACT_DIM:
        raise ConfigError(
            f"attribution.proj_dim=0 (exact) needs a {grad_dim:,}² matrix for this adapter; exact TRAK is "
            f"limited to {MAX_EXACT_DIM:,} parameters: set proj_dim (e.g. 2048)"
        )


def fit_batch_size(run: Callable[[int], object], start: int) -> int:
    """The largest of start, start/2, ..., 1 for which `run(b)` finishes without running out of CUDA memory.

    `run(b)` should featurize a worst-case batch of b examples (the longest ones), so that every real
    batch of that size fits too: how attribution fills a GPU whatever the model and sequence length.
    """
    b = start
    while True:
        try:
            run(b)
            return b
        except torch.cuda.OutOfMemoryError:
            if b == 1:
                raise OlabError(
                    "attribution runs out of CUDA memory with a single example; lower attribution.max_length, "
                    "use projection='kronecker', or free the GPU"
                ) from None
        b //= 2  # outside the handler: the failed attempt's tensors are released before the next one
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
