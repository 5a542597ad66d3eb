"""A plain-torch model (no peft import) with trainable Linear layers, for cross-process projection checks."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from olab.attribution.featurize import Featurizer, gradient_blocks, gradient_layout
from olab.attribution.projection import Projector


class Out:
    def __init__(self, logits: torch.Tensor):
        self.logits = logits


class PlainClassifier(nn.Module):
    """Embedding (frozen) -> trainable Linear over tokens -> masked mean -> trainable head."""

    def __init__(self) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(0)
        self.emb = nn.Embedding(50, 12).requires_grad_(False)
        self.mix = nn.Linear(12, 24)
        self.head = nn.Linear(24, 3)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=gen) * 0.5)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **_: torch.Tensor) -> Out:
        h = torch.tanh(self.mix(self.emb(input_ids)))
        m = attention_mask[..., None].float()
        return Out(self.head((h * m).sum(-2) / m.sum(-2)))


def plain_batch() -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(9)
    ids = torch.randint(1, 50, (6, 7), generator=gen)
    mask = (torch.arange(7)[None] < torch.tensor([[7], [3], [5], [2], [6], [4]])).long()
    return {"input_ids": ids * mask, "attention_mask": mask, "labels": torch.tensor([0, 1, 2, 0, 1, 2])}


def matrix(seed: int = 7) -> np.ndarray:
    return Projector(gradient_blocks(gradient_layout(PlainClassifier())), 256, seed=seed).matrix.numpy()


def features(seed: int = 7) -> np.ndarray:
    model = PlainClassifier()
    projector = Projector(gradient_blocks(gradient_layout(model)), 256, seed=seed)
    return Featurizer(model, "classification", projector).featurize(plain_batch())[0].numpy()
