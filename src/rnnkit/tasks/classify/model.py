"""Many to one: embedding -> recurrent layers -> pooling over valid steps -> linear to the classes.

The network's shape comes from the language model's ``ModelConfig`` (same flags,
same backends); ``ClassifierConfig`` adds what only a classifier has. Batches are
padded and run packed (fused) or masked (unrolled), never one example at a time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from rnnkit.config import option
from rnnkit.data.sequences import pad
from rnnkit.nn.config import recurrent_layers
from rnnkit.nn.pooling import POOLINGS, pool
from rnnkit.tasks.sections import ModelConfig
from rnnkit.train.precision import autocast


@dataclass
class ClassifierConfig:
    """What a classifier adds to the recurrent layers."""

    bidirectional: bool = option(True, "read each example both ways")
    pooling: str = option("max", "one vector per example: the last state by true length, or the mean or max "
                          "over valid steps", POOLINGS)
    class_weights: bool = option(False, "weight the loss by inverse class frequency, for imbalanced classes")


class Classifier(nn.Module):
    """``forward(ids (B, T), lengths (B,)) -> logits (B, C)``."""

    def __init__(self, vocab_size: int, num_classes: int, model: ModelConfig, head: ClassifierConfig) -> None:
        super().__init__()
        self.pooling = head.pooling
        embedding_size = model.embedding_size or model.hidden_size
        self.embedding = nn.Embedding(vocab_size, embedding_size)
        self.recurrent = recurrent_layers(model, embedding_size, head.bidirectional)
        self.dropout = nn.Dropout(model.dropout)
        self.head = nn.Linear(model.hidden_size * self.recurrent.directions, num_classes)
        nn.init.normal_(self.embedding.weight, std=0.1)
        nn.init.zeros_(self.head.bias)

    def forward(self, ids: Tensor, lengths: Tensor) -> Tensor:
        x = self.dropout(self.embedding(ids))                       # (B, T, E)
        out, _ = self.recurrent(x, None, lengths)                   # (B, T, D*H), zero past each length
        pooled = pool(out, lengths, self.pooling, self.recurrent.directions)  # (B, D*H)
        return self.head(self.dropout(pooled))                      # (B, C)


@torch.no_grad()
def predict_logits(model: Classifier, sequences: list[np.ndarray], device: torch.device,
                   precision: str = "fp32", batch_size: int = 256) -> Tensor:
    """Logits (N, C) in input order, in length-sorted batches (little padding)."""
    was_training = model.training
    model.eval()
    order = np.argsort([len(s) for s in sequences], kind="stable")
    logits = torch.empty(len(sequences), model.head.out_features)
    try:
        for start in range(0, len(order), batch_size):
            chosen = order[start:start + batch_size]
            ids, lengths = pad([sequences[i] for i in chosen])
            with autocast(device, precision):
                logits[torch.from_numpy(chosen)] = model(ids.to(device), lengths.to(device)).float().cpu()
    finally:
        model.train(was_training)
    return logits
