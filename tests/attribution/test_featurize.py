"""The hook featurizer's per-example adapter gradients equal torch.func's, and touch nothing frozen."""

from __future__ import annotations

import pytest
import torch
from peft import LoraConfig, PeftModel, get_peft_model
from tiny import TinyClassifier, batch, lora_classifier, lora_lm
from torch import nn

from olab.attribution.featurize import Featurizer, gradient_layout, mark_adapter_trainable
from olab.attribution.outputs import classification_margin, classification_q, output_and_q, sequence_margin
from olab.errors import OlabError


def torch_func_grads(model: nn.Module, names: list[str], task: str, b: dict[str, torch.Tensor]) -> torch.Tensor:
    """Per-example gradients of f w.r.t. the named parameters via functional_call + vmap + grad."""
    params = {n: p.detach() for n, p in model.named_parameters()}
    trainable = {n: params[n] for n in names}
    frozen = {n: p for n, p in params.items() if n not in trainable}

    def f(tp: dict, ids: torch.Tensor, mask: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        kwargs = {"input_ids": ids[None], "attention_mask": mask[None]}
        logits = torch.func.functional_call(model, {**frozen, **tp}, (), kwargs).logits
        return output_and_q(task, logits, y[None])[0].sum()

    per = torch.func.vmap(torch.func.grad(f), in_dims=(None, 0, 0, 0))(
        trainable, b["input_ids"], b["attention_mask"], b["labels"]
    )
    n = b["input_ids"].shape[0]
    return torch.cat([per[name].reshape(n, -1) for name in names], dim=1)


@pytest.mark.parametrize(
    ("make", "task", "kw"),
    [(lora_classifier, "classification", {}), (lora_lm, "causal_lm", {"lm": True, "vocab": 40})],
)
def test_per_example_grads_equal_torch_func(make, task, kw):
    model = make(seed=3)
    b = batch(9, t=8, seed=5, **kw)
    fz = Featurizer(model, task)
    grads, q = fz.per_example_grads(b)
    ref = torch_func_grads(model, [name for name, _, _ in fz.layout], task, b)
    assert grads.shape == ref.shape == (9, fz.grad_dim)
    assert ref.norm() > 0
    rel = ((grads - ref).norm() / ref.norm()).item()
    assert rel < 1e-5, rel
    # each example's gradient separately, too (no cross-talk between examples of one batch)
    per_row = ((grads - ref).norm(dim=1) / ref.norm(dim=1)).max().item()
    assert per_row < 1e-5
    assert q.shape == (9,) and bool(((q > 0) & (q <= 1)).all())


def test_padding_does_not_change_an_examples_gradient():
    model = lora_classifier(seed=1)
    b = batch(4, t=6, seed=2)
    fz = Featurizer(model, "classification")
    alone = {k: v[:1] for k, v in b.items()}
    length = int(alone["attention_mask"].sum())
    trimmed = {"input_ids": alone["input_ids"][:, :length], "attention_mask": alone["attention_mask"][:, :length],
               "labels": alone["labels"]}  # fmt: skip
    g_batch, _ = fz.per_example_grads(b)
    g_trim, _ = fz.per_example_grads(trimmed)
    torch.testing.assert_close(g_batch[0], g_trim[0], rtol=1e-5, atol=1e-7)


def test_no_gradient_reaches_any_parameter():
    model = lora_classifier()
    Featurizer(model, "classification").per_example_grads(batch(5))
    assert all(p.grad is None for p in model.parameters())
    frozen = [n for n, p in model.named_parameters() if not p.requires_grad]
    assert frozen and all("lora_" not in n and "modules_to_save" not in n for n in frozen)


def test_layout_covers_lora_a_b_and_head():
    fz = Featurizer(lora_classifier(r=4, n_labels=3), "classification")
    names = [n for n, _, _ in fz.layout]
    assert sum("lora_A" in n for n in names) == sum("lora_B" in n for n in names) == 3
    assert [n.rsplit(".", 1)[-1] for n in names if "modules_to_save" in n] == ["weight", "bias"]
    assert fz.grad_dim == sum(p.numel() for p in fz.model.parameters() if p.requires_grad)


def test_adapter_loaded_frozen_is_made_trainable(tmp_path):
    model = lora_classifier()
    model.save_pretrained(tmp_path)
    loaded = PeftModel.from_pretrained(TinyClassifier(), str(tmp_path))
    assert not any(p.requires_grad for p in loaded.parameters())
    mark_adapter_trainable(loaded)
    assert [n for n, _, _ in gradient_layout(loaded)] == [n for n, _, _ in gradient_layout(model)]


def test_trainable_non_linear_parameter_is_refused_with_its_name():
    dora = get_peft_model(TinyClassifier(), LoraConfig(r=2, target_modules=["q"], use_dora=True))
    with pytest.raises(OlabError, match=r"lora_magnitude_vector.*engine='traker'"):
        Featurizer(dora, "classification")


def test_margin_is_log_odds_of_the_label_and_q_is_one_minus_p():
    logits = torch.tensor([[2.0, -1.0, 0.5], [0.1, 0.2, 3.0]])
    labels = torch.tensor([0, 1])
    p = logits.softmax(-1)[torch.arange(2), labels]
    torch.testing.assert_close(classification_margin(logits, labels), torch.log(p / (1 - p)))
    torch.testing.assert_close(classification_q(logits, labels), 1 - p)


def test_output_functions_run_under_vmap():
    logits = torch.randn(4, 5)
    labels = torch.tensor([0, 4, 2, 1])
    per = torch.func.vmap(lambda lg, y: classification_margin(lg[None], y[None])[0])(logits, labels)
    torch.testing.assert_close(per, classification_margin(logits, labels))
    lm_logits, lm_labels = torch.randn(3, 6, 7), torch.randint(0, 7, (3, 6))
    lm_labels[0, 4:] = -100
    per_lm = torch.func.vmap(lambda lg, y: sequence_margin(lg[None], y[None])[0])(lm_logits, lm_labels)
    torch.testing.assert_close(per_lm, sequence_margin(lm_logits, lm_labels))


def test_device_and_precision_choices():
    from olab.devices import resolve_device, resolve_precision
    from olab.errors import ConfigError

    assert resolve_device("cpu", "attribution").type == "cpu"
    assert resolve_device("auto", "attribution").type == ("cuda" if torch.cuda.is_available() else "cpu")
    cpu = torch.device("cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match=r"attribution.device='cuda'.*'auto' or 'cpu'"):
            resolve_device("cuda", "attribution")
    for without_bf16 in ("fp16", "fp32"):  # the stages differ only on a GPU without bf16
        assert resolve_precision("auto", cpu, "attribution", without_bf16=without_bf16) == "fp32"
    assert resolve_precision("bf16", cpu, "attribution", without_bf16="fp32") == "bf16"
    assert resolve_precision("fp32", torch.device("cuda"), "attribution", without_bf16="fp32") == "fp32"
    with pytest.raises(ConfigError, match=r"finetune.precision='fp16' needs a CUDA device"):
        resolve_precision("fp16", cpu, "finetune", without_bf16="fp16")


def test_fit_batch_size_halves_until_the_batch_fits():
    from olab.attribution.featurize import fit_batch_size
    from olab.errors import OlabError

    tried = []

    def run(b: int) -> None:
        tried.append(b)
        if b > 100:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")

    assert fit_batch_size(run, 512) == 64
    assert tried == [512, 256, 128, 64]
    assert fit_batch_size(lambda b: None, 512) == 512  # fits at once: no smaller attempt

    def never(b: int) -> None:
        raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")

    def broken(b: int) -> None:
        raise ValueError("not memory")

    with pytest.raises(OlabError, match=r"single example.*max_length"):
        fit_batch_size(never, 8)
    with pytest.raises(ValueError, match="not memory"):  # other errors are not taken for a full GPU
        fit_batch_size(broken, 8)
