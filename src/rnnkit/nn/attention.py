"""Attention over an encoder's outputs: additive (Bahdanau) and multiplicative (Luong).

Both score every source position against a query, mask the padding to -inf
before the softmax (so padded positions get exactly zero weight and the weights
over real positions sum to one), and return the weighted sum of the values with
the weights themselves, for pictures. Queries may be one per example (B, Q) or a
sequence of them (B, T, Q), which scores a whole teacher-forced target at once.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class Attention(nn.Module):
    """``forward(query, keys, values, mask) -> (context, weights)``; ``keys`` come from ``prepare``."""

    def prepare(self, memory: Tensor) -> Tensor:
        """Per-source-position work that does not depend on the query, done once per batch."""
        return memory

    def scores(self, query: Tensor, keys: Tensor) -> Tensor:
        raise NotImplementedError

    def forward(self, query: Tensor, keys: Tensor, values: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        single = query.dim() == 2
        if single:
            query = query.unsqueeze(1)
        scores = self.scores(query, keys)                           # (B, T, S)
        scores = scores.masked_fill(~mask.unsqueeze(1), float("-inf"))
        weights = torch.softmax(scores.float(), dim=-1).to(values.dtype)
        context = torch.bmm(weights, values)                        # (B, T, V)
        return (context.squeeze(1), weights.squeeze(1)) if single else (context, weights)


class AdditiveAttention(Attention):
    """Bahdanau et al. 2014: ``score(q, k) = v . tanh(W q + U k)``."""

    def __init__(self, query_size: int, key_size: int, attention_size: int) -> None:
        super().__init__()
        self.query = nn.Linear(query_size, attention_size, bias=False)
        self.key = nn.Linear(key_size, attention_size)
        self.v = nn.Linear(attention_size, 1, bias=False)

    def prepare(self, memory: Tensor) -> Tensor:
        return self.key(memory)                                     # U k for every position, once

    def scores(self, query: Tensor, keys: Tensor) -> Tensor:
        mixed = torch.tanh(self.query(query).unsqueeze(2) + keys.unsqueeze(1))  # (B, T, S, A)
        return self.v(mixed).squeeze(-1)


class MultiplicativeAttention(Attention):
    """Luong et al. 2015: ``dot`` is ``q . k``; ``general`` is ``q . W k``; ``scaled`` divides
    either by sqrt(query size), as Transformers do, so the softmax does not saturate as the
    vectors grow during training."""

    def __init__(self, query_size: int, key_size: int, kind: str = "general", scaled: bool = False) -> None:
        super().__init__()
        self.scale = query_size ** -0.5 if scaled else 1.0
        if kind not in ("dot", "general"):
            raise ValueError(f"kind must be 'dot' or 'general', not {kind!r}")
        if kind == "dot" and query_size != key_size:
            raise ValueError(f"dot attention needs equal query and key sizes, not {query_size} and {key_size}")
        self.kind = kind
        self.weight = nn.Linear(key_size, query_size, bias=False) if kind == "general" else None

    def prepare(self, memory: Tensor) -> Tensor:
        return self.weight(memory) if self.weight is not None else memory

    def scores(self, query: Tensor, keys: Tensor) -> Tensor:
        scores = torch.bmm(query, keys.transpose(1, 2))
        return scores * self.scale if self.scale != 1.0 else scores


def make_attention(kind: str, query_size: int, key_size: int, scaled: bool = False) -> Attention:
    """By name: ``bahdanau`` (additive), ``dot`` or ``general`` (multiplicative, ``scaled`` or not)."""
    if kind == "bahdanau":
        return AdditiveAttention(query_size, key_size, query_size)
    return MultiplicativeAttention(query_size, key_size, kind, scaled)
