"""The gathered LoRA forward (olab.serve.gathered) gives a mixed-adapter batch the same outputs as PEFT's loop over
adapters: ranks differ, some rows name no adapter ("__base__"), and adapters load and unload between batches."""

from __future__ import annotations

import torch
from peft import LoraConfig, get_peft_model
from transformers import GPT2Config, GPT2LMHeadModel

from olab.serve import gathered


def _model(adapters: int) -> torch.nn.Module:
    torch.manual_seed(0)
    base = GPT2LMHeadModel(GPT2Config(n_layer=2, n_embd=32, n_head=2, vocab_size=50, n_positions=32))
    lora = {"target_modules": ["c_attn", "c_proj"], "init_lora_weights": False}
    model = get_peft_model(base, LoraConfig(r=4, **lora), adapter_name="a0")
    for i in range(1, adapters):
        model.add_adapter(f"a{i}", LoraConfig(r=(2, 4, 8)[i % 3], lora_alpha=8 + i, **lora))
    return model.eval()


@torch.no_grad()
def test_a_mixed_batch_matches_peft_row_for_row() -> None:
    peft_model, ours = _model(12), _model(12)
    assert gathered.install(ours) == 6  # c_attn, attn.c_proj and mlp.c_proj of each of the two blocks
    ids = torch.randint(0, 50, (16, 9))
    names = [f"a{i % 12}" for i in range(16)]
    names[5] = names[11] = "__base__"
    want = peft_model(input_ids=ids, adapter_names=names).logits
    got = ours(input_ids=ids, adapter_names=names).logits
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    assert (want[0] - peft_model(input_ids=ids, adapter_names=["__base__"] * 16).logits[0]).abs().max() > 1e-3

    ours.delete_adapter("a3")  # unloaded and another loaded: the stacks follow
    peft_model.delete_adapter("a3")
    for model in (ours, peft_model):
        model.add_adapter("a12", LoraConfig(r=6, target_modules=["c_attn", "c_proj"], init_lora_weights=False))
    for model in (ours, peft_model):  # the same small random weights in both, as a trained adapter's
        fresh = [p for name, p in model.named_parameters() if ".a12." in name]
        for i, p in enumerate(fresh):
            p.copy_(0.05 * torch.randn(p.shape, generator=torch.Generator().manual_seed(i)))
    names = [n if n != "a3" else "a12" for n in names]
    torch.testing.assert_close(ours(input_ids=ids, adapter_names=names).logits,
                               peft_model(input_ids=ids, adapter_names=names).logits, rtol=1e-5, atol=1e-6)  # fmt: skip

    with torch.no_grad():  # the same rows again after an adapter's weights changed in place: not the old rows
        for model in (ours, peft_model):
            next(p for name, p in model.named_parameters() if ".a12." in name and "lora_B" in name).mul_(3)
    torch.testing.assert_close(ours(input_ids=ids, adapter_names=names).logits,
                               peft_model(input_ids=ids, adapter_names=names).logits, rtol=1e-5, atol=1e-6)  # fmt: skip
