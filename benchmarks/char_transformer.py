"""A decoder-only character Transformer from torch.nn primitives: the race's baseline.

The small-GPT recipe that trains well on a CPU (nanoGPT's character-level Shakespeare
setting): pre-norm blocks of causal self-attention and a 4x GELU MLP, learned positions,
the output layer tied to the token embedding, AdamW with weight decay on matrices,
linear warm-up and a cosine decay over the wall-clock budget, gradient clipping, random
windows of the training ids. bf16 autocast where rnnkit's ``--precision auto`` picks it,
so both racers use the same arithmetic. Scored over the whole validation split with
sliding windows: every character once, each with at least half a context before it.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.train.precision import autocast

CPU = torch.device("cpu")


@dataclass(frozen=True)
class Recipe:
    layers: int = 4
    heads: int = 4
    width: int = 256
    context: int = 128
    batch: int = 32
    dropout: float = 0.1
    lr: float = 1e-3
    weight_decay: float = 0.1
    warmup: int = 100


# Wider and longer-sighted as the budget grows, within the recipe's range (width 128-384, context 64-256).
RECIPES = ((1.0, Recipe(width=128, context=64, dropout=0.0)),
           (5.0, Recipe(width=192, context=128, dropout=0.1)),
           (10.0, Recipe(width=256, context=128, dropout=0.1)),
           (math.inf, Recipe(width=384, context=256, dropout=0.2)))


def recipe_for(minutes: float) -> Recipe:
    return next(recipe for up_to, recipe in RECIPES if minutes <= up_to)


class Block(nn.Module):
    def __init__(self, recipe: Recipe) -> None:
        super().__init__()
        width = recipe.width
        self.heads, self.dropout = recipe.heads, recipe.dropout
        self.norm1, self.norm2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.qkv, self.proj = nn.Linear(width, 3 * width), nn.Linear(width, width)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width))
        self.drop = nn.Dropout(recipe.dropout)

    def forward(self, x: Tensor) -> Tensor:
        batch, steps, width = x.shape
        q, k, v = (t.view(batch, steps, self.heads, width // self.heads).transpose(1, 2)
                   for t in self.qkv(self.norm1(x)).split(width, dim=2))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True,
                                           dropout_p=self.dropout if self.training else 0.0)
        x = x + self.drop(self.proj(y.transpose(1, 2).reshape(batch, steps, width)))
        return x + self.drop(self.mlp(self.norm2(x)))


class CharTransformer(nn.Module):
    """``forward(ids (B, T)) -> logits (B, T, V)`` for T up to the recipe's context."""

    def __init__(self, vocab_size: int, recipe: Recipe) -> None:
        super().__init__()
        self.recipe = recipe
        self.tokens = nn.Embedding(vocab_size, recipe.width)
        self.positions = nn.Embedding(recipe.context, recipe.width)
        self.drop = nn.Dropout(recipe.dropout)
        self.blocks = nn.ModuleList(Block(recipe) for _ in range(recipe.layers))
        self.norm = nn.LayerNorm(recipe.width)
        self.head = nn.Linear(recipe.width, vocab_size, bias=False)
        self.head.weight = self.tokens.weight
        for name, param in self.named_parameters():
            if param.ndim == 2:
                std = 0.02 / math.sqrt(2 * recipe.layers) if name.endswith(("proj.weight", "mlp.2.weight")) else 0.02
                nn.init.normal_(param, std=std)
            elif name.endswith("bias"):
                nn.init.zeros_(param)

    def forward(self, ids: Tensor) -> Tensor:
        positions = torch.arange(ids.shape[1], device=ids.device)
        x = self.drop(self.tokens(ids) + self.positions(positions))
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x))


def train_for(model: CharTransformer, train_ids: np.ndarray, minutes: float, precision: str,
              seed: int = 1337) -> int:
    """Train for ``minutes`` of training time; returns the number of steps."""
    recipe, ids = model.recipe, torch.from_numpy(train_ids.astype(np.int64))
    matrices = [p for p in model.parameters() if p.ndim == 2]
    others = [p for p in model.parameters() if p.ndim != 2]
    optimizer = torch.optim.AdamW([{"params": matrices, "weight_decay": recipe.weight_decay},
                                   {"params": others, "weight_decay": 0.0}], lr=recipe.lr, betas=(0.9, 0.99))
    generator = torch.Generator().manual_seed(seed)
    model.train()
    step, spent, budget = 0, 0.0, minutes * 60
    while spent < budget:
        started = time.perf_counter()
        progress = min(spent / budget, 1.0)
        lr = recipe.lr * (min(1.0, (step + 1) / recipe.warmup) if step < recipe.warmup
                          else 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))
        for group in optimizer.param_groups:
            group["lr"] = lr
        starts = torch.randint(len(ids) - recipe.context - 1, (recipe.batch,), generator=generator)
        window = torch.stack([ids[s:s + recipe.context + 1] for s in starts.tolist()])
        with autocast(CPU, precision):
            logits = model(window[:, :-1])
        loss = F.cross_entropy(logits.float().flatten(0, 1), window[:, 1:].flatten())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        step += 1
        spent += time.perf_counter() - started
    return step


@torch.no_grad()
def sliding_nats(model: CharTransformer, val_ids: np.ndarray, precision: str, batch: int = 64) -> float:
    """Mean nats per predicted character over the whole split. Window k scores the targets
    [k * stride, (k + 1) * stride) with the ``context`` characters before its end as input, so each
    is scored once, with at least ``context - stride`` characters before it (the split's start: fewer)."""
    model.eval()
    context = model.recipe.context
    stride = context // 2
    ids = torch.from_numpy(val_ids.astype(np.int64))
    targets = len(ids) - 1
    by_length: dict[int, list[tuple[int, int, int]]] = defaultdict(list)
    for end in range(stride, targets + stride, stride):
        stop, start = min(end, targets), max(0, end - context)
        by_length[stop - start].append((start, stop, stop - (end - stride)))
    total, count = 0.0, 0
    for length, windows in by_length.items():
        for first in range(0, len(windows), batch):
            part = windows[first:first + batch]
            inputs = torch.stack([ids[start:stop] for start, stop, _ in part])
            labels = torch.stack([ids[start + 1:stop + 1] for start, stop, _ in part])
            with autocast(CPU, precision):
                logits = model(inputs).float()
            nats = F.cross_entropy(logits.flatten(0, 1), labels.flatten(), reduction="none").view(len(part), length)
            for row, (_, _, scored) in enumerate(part):
                total += float(nats[row, -scored:].sum())
                count += scored
    assert count == targets, (count, targets)
    return total / count
