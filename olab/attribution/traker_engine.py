"""`engine: traker`: TRAK through the traker 0.3.2 package, kept as the reference implementation.

traker takes per-example gradients with `torch.func.vmap` over every parameter and keeps the
adapter's afterwards. Under vmap, transformers 5 cannot build attention masks (its helpers branch
on tensor values), so batches carry a precomputed 4-D additive mask, and the output function
indexes labels with gather/masked_fill (olab.attribution.outputs) rather than one_hot/masked_select.
On CPU traker needs device="cpu" (a string) and use_half_precision=False.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from olab.attribution.featurize import mark_adapter_trainable
from olab.attribution.outputs import output_and_q
from olab.attribution.trak import NpyRows, put_rows, ridge
from olab.errors import OlabError

Batch = dict[str, Tensor]


def _trak():
    try:
        import trak
    except ImportError as e:  # pragma: no cover - depends on the install
        raise OlabError("attribution.engine='traker' needs the traker package: pip install 'olab[traker]'") from e
    return trak


def is_transformers_model(model: nn.Module) -> bool:
    """True when the (PEFT-wrapped) model is a transformers PreTrainedModel that builds its own masks."""
    from transformers import PreTrainedModel

    return any(
        isinstance(m, PreTrainedModel)
        for m in (model, getattr(model, "base_model", None), getattr(getattr(model, "base_model", None), "model", None))
    )


def additive_mask(attention_mask: Tensor, causal: bool, dtype: torch.dtype = torch.float32) -> Tensor:
    """(B, T) 0/1 padding mask -> (B, 1, T, T) additive mask (0 keep, dtype-min drop), causal if asked."""
    t = attention_mask.shape[-1]
    keep = attention_mask[:, None, None, :].bool().expand(-1, 1, t, t)
    if causal:
        keep = keep & torch.ones(t, t, dtype=torch.bool, device=attention_mask.device).tril()
    zero = torch.zeros((), dtype=dtype, device=attention_mask.device)
    return torch.where(keep, zero, torch.finfo(dtype).min)


def make_output_function(task: str, four_d_mask: bool):
    """A traker AbstractModelOutput for olab's output function f and weight Q on (ids, mask, labels) batches."""
    trak = _trak()

    class OlabModelOutput(trak.modelout_functions.AbstractModelOutput):
        def __init__(self) -> None:
            super().__init__()

        @staticmethod
        def _logits(model, weights, buffers, input_ids: Tensor, mask: Tensor) -> Tensor:
            kwargs = {"input_ids": input_ids, "attention_mask": mask}
            return torch.func.functional_call(model, (weights, buffers), args=(), kwargs=kwargs).logits

        def get_output(self, model, weights, buffers, input_id, mask, label) -> Tensor:
            logits = self._logits(model, weights, buffers, input_id.unsqueeze(0), mask.unsqueeze(0))
            return output_and_q(task, logits, label.unsqueeze(0))[0].sum()

        def get_out_to_loss_grad(self, model, weights, buffers, batch) -> Tensor:
            input_ids, mask, labels = batch
            with torch.no_grad():
                logits = self._logits(model, weights, buffers, input_ids, mask)
            return output_and_q(task, logits, labels)[1].unsqueeze(-1)

    return OlabModelOutput()


def relative_ridge_score_computer(damping: float, lambdas: list[float]):
    """traker's BasicScoreComputer with olab's relative ridge (`olab.attribution.trak.ridge`) per member."""
    trak = _trak()

    class RelativeRidgeScoreComputer(trak.score_computers.BasicScoreComputer):
        def get_x_xtx_inv(self, grads: Tensor, xtx: Tensor) -> Tensor:
            self.lambda_reg = ridge(torch.trace(xtx.double()).item(), grads.shape[0], xtx.shape[0], damping)
            lambdas.append(self.lambda_reg)
            return super().get_x_xtx_inv(grads, xtx)

    return RelativeRidgeScoreComputer


def to_traker_batch(batch: Batch, task: str, four_d_mask: bool, device: str) -> tuple[Tensor, Tensor, Tensor]:
    mask = batch["attention_mask"]
    if four_d_mask:
        mask = additive_mask(mask, causal=task == "causal_lm")
    return batch["input_ids"].to(device), mask.to(device), batch["labels"].to(device)


def traker_scores(
    load_members: list[Callable[[], nn.Module]],
    task: str,
    train_batches: Callable[[], Iterable[Batch]],
    target_batches: Callable[[], Iterable[Batch]],
    n_train: int,
    n_targets: int,
    proj_dim: int | None,
    proj_seed: int,
    damping: float,
    device: torch.device,
    work_dir: str | Path,
    scores_out: np.ndarray | NpyRows,
    on_batch: Callable[[str, int], None] | None = None,
) -> tuple[np.ndarray, list[float]]:
    """Fill `scores_out` with traker's TRAK scores; return (self-influence, λ per member).

    λ follows olab's relative rule on traker's own features (`ridge`); self-influence
    is Σ_j features_ij · grads_ij (φ_i (ΦᵀΦ+λI)⁻¹ φ_iᵀ up to traker's per-member normalisation) times Q̄²,
    the record's effect on its own loss as in `olab.attribution.trak`.
    """
    trak = _trak()
    dev = "cpu" if device.type == "cpu" else str(device)
    first = mark_adapter_trainable(load_members[0]())
    four_d = is_transformers_model(first)
    grad_wrt = [n for n, p in first.named_parameters() if p.requires_grad]
    projector, lams = None, []
    if not proj_dim:
        projector = trak.projectors.NoOpProjector(device=dev)
    traker = trak.TRAKer(
        model=first.to(dev).eval(),
        task=make_output_function(task, four_d),
        train_set_size=n_train,
        save_dir=str(Path(work_dir) / "traker"),
        load_from_save_dir=True,  # with a fresh directory; False leaves experiments.json unwritten
        device=dev,
        projector=projector,
        proj_dim=proj_dim or 0,
        use_half_precision=False,
        projector_seed=proj_seed,
        grad_wrt=grad_wrt,
        score_computer=relative_ridge_score_computer(damping, lams),
        logging_level=logging.WARNING,
    )
    states = []
    for mid, load in enumerate(load_members):
        model = first if mid == 0 else load()
        # a copy: state_dict() holds views of the live parameters, and traker.load_checkpoint loads every
        # later member into `first`, which would leave member 0's targets scored with the last member's weights
        state = {k: v.detach().to(dev, copy=True) for k, v in model.state_dict().items()}
        states.append(state)
        traker.load_checkpoint(state, model_id=mid)
        for batch in train_batches():
            tb = to_traker_batch(batch, task, four_d, dev)
            traker.featurize(batch=tb, num_samples=tb[0].shape[0])
            if on_batch:
                on_batch("train", tb[0].shape[0])
    traker.finalize_features()
    qs, leverage = [], np.zeros(n_train)
    for mid in range(len(load_members)):
        traker.saver.load_current_store(mid)
        store = traker.saver.current_store
        qs.append(np.asarray(store["out_to_loss"], dtype=np.float64)[:, 0])
        leverage += np.einsum(
            "ij,ij->i", np.asarray(store["features"], np.float64), np.asarray(store["grads"], np.float64)
        )
    self_influence = leverage / len(load_members) * np.mean(qs, axis=0) ** 2
    for mid, state in enumerate(states):
        traker.start_scoring_checkpoint("targets", state, model_id=mid, num_targets=n_targets)
        for batch in target_batches():
            tb = to_traker_batch(batch, task, four_d, dev)
            traker.score(batch=tb, num_samples=tb[0].shape[0])
            if on_batch:
                on_batch("targets", tb[0].shape[0])
    scores = traker.finalize_scores("targets")
    put_rows(scores_out, 0, np.asarray(scores, dtype=np.float32))
    return self_influence, lams
