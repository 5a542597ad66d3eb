"""Attribution on the real generative model: the olab featurizer on a SmolLM2 LoRA (r=8 on q/k/v/o_proj, 30
layers, 921,600 parameters) gives torch.func's per-example gradients of the response's log-odds, and scores
from its projected features rank the training records like exact TRAK. Short instruction records keep the
real model to a few seconds of compute per pass."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from peft import LoraConfig, get_peft_model
from scipy.stats import spearmanr

from olab.adapters.data import encode
from olab.adapters.models import load_base_model
from olab.adapters.train import LLAMA_ATTENTION
from olab.attribution.config import AttributionConfig
from olab.attribution.featurize import Featurizer
from olab.attribution.outputs import output_and_q
from olab.attribution.projection import make_projector
from olab.attribution.trak import Member, kernel_scores, score, write_features
from olab.datanet.synth_instructions import generate as instructions

pytestmark = pytest.mark.slow

MAX_LENGTH = 48


@pytest.fixture(scope="module")
def lora():
    base, tok = load_base_model("smollm2-135m-instruct", "causal_lm")
    model = get_peft_model(base, LoraConfig(r=8, lora_alpha=16, target_modules=LLAMA_ATTENTION))
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():  # a trained adapter's B is not zero: without this every lora_A gradient would be
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.02)
    return model.eval(), tok


def pairs(n: int, seed: int) -> list[tuple[str, str]]:
    ds = instructions(n, seed=seed)
    return list(zip(ds["prompt"], ds["response"], strict=True))


def test_featurizer_gradients_equal_torch_func_per_example_gradients(lora):
    model, tok = lora
    batch = encode(tok, pairs(3, seed=1), None, "causal_lm", MAX_LENGTH)
    fz = Featurizer(model, "causal_lm")
    assert fz.grad_dim == 921_600
    grads, _ = fz.per_example_grads(batch)

    names = [n for n, _, _ in fz.layout]
    params = {n: p.detach() for n, p in model.named_parameters()}
    trainable = {n: params[n] for n in names}

    def f(tp: dict, ids: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        logits = torch.func.functional_call(model, {**params, **tp}, (), {"input_ids": ids}).logits
        return output_and_q("causal_lm", logits, labels)[0].sum()

    for i in range(3):  # one example at a time, unpadded: transformers' mask helpers do not run under vmap
        n = int(batch["attention_mask"][i].sum())
        g = torch.func.grad(f)(trainable, batch["input_ids"][i : i + 1, :n], batch["labels"][i : i + 1, :n])
        ref = torch.cat([g[name].reshape(-1) for name in names])
        assert ref.norm() > 0
        rel = ((grads[i] - ref).norm() / ref.norm()).item()
        assert rel < 1e-4, (i, rel)


def test_projected_scores_rank_like_exact_trak(lora, tmp_path):
    model, tok = lora
    train = [encode(tok, pairs(24, seed=2)[i : i + 8], None, "causal_lm", MAX_LENGTH) for i in range(0, 24, 8)]
    targets = encode(tok, pairs(4, seed=3), None, "causal_lm", MAX_LENGTH)
    exact = Featurizer(model, "causal_lm")
    train_grads = [exact.per_example_grads(b) for b in train]
    target_grads = [exact.per_example_grads(targets)]
    g, q = (torch.cat(p).numpy() for p in zip(*train_grads, strict=True))
    damping = AttributionConfig().damping
    reference = kernel_scores(g, q, target_grads[0][0].numpy(), damping)

    projector = make_projector("auto", exact.blocks, 2048, seed=0, device="cpu")  # kronecker at this size
    assert projector.describe()["kind"] == "kronecker"

    def project(grads_and_q: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        return projector.project(grads_and_q[0]), grads_and_q[1]  # what Featurizer.featurize does after the pass

    member = Member(write_features(project, train_grads, 24, 2048, tmp_path / "train.npy"),
                    write_features(project, target_grads, 4, 2048, tmp_path / "targets.npy"))  # fmt: skip
    projected = np.zeros(reference.shape, np.float32)
    score([member], damping, projected, block_size=4096)
    rho = [spearmanr(projected[:, j], reference[:, j])[0] for j in range(reference.shape[1])]
    assert np.mean(rho) >= 0.9, rho
