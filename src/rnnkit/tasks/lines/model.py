"""Whole lines as sequences (names, titles), optionally conditioned on a label.

Each line is read as ``<b> x1 ... xn`` and trained to predict ``x1 ... xn <b>``:
one boundary token both starts and ends a line, as in makemore, so sampling
starts from it and stops when the model emits it again.

The label is embedded and concatenated to the token embedding at every step,
rather than used as the initial state. Fed at every step it cannot fade over a
long line, it works the same for every cell (an initial state would need one
projection for h and another for an LSTM's c), and the fused kernels run it
unchanged: the label is just more input.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from rnnkit.config import option
from rnnkit.nn import State, Stepper
from rnnkit.nn.config import recurrent_layers
from rnnkit.tasks.sections import ModelConfig

CONDITIONS = ("none", "label")


@dataclass
class LineConfig:
    """What a line model adds to the language model's shape."""

    condition_on: str = option("none", "label: generate lines conditioned on their label (labelled data as "
                               "for `rnnkit train classify`)", CONDITIONS)
    label_size: int = option(16, "width of the label embedding (--condition-on label)")


class LineModel(nn.Module):
    """``forward(ids (B, T), labels (B,) or None, state, lengths) -> (logits (B, T, V), state)``."""

    def __init__(self, vocab_size: int, num_labels: int, config: ModelConfig, line: LineConfig) -> None:
        super().__init__()
        embedding_size = config.embedding_size or config.hidden_size
        label_size = line.label_size if num_labels else 0
        self.vocab_size = vocab_size
        self.embedding = nn.Embedding(vocab_size, embedding_size)
        self.label_embedding = nn.Embedding(num_labels, label_size) if num_labels else None
        self.recurrent = recurrent_layers(config, embedding_size + label_size)
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.hidden_size, vocab_size)
        nn.init.normal_(self.embedding.weight, std=0.1)
        if self.label_embedding is not None:
            nn.init.normal_(self.label_embedding.weight, std=0.1)
        nn.init.zeros_(self.head.bias)

    @property
    def boundary(self) -> int:
        """The id that starts and ends every line: the last one."""
        return self.vocab_size - 1

    def inputs(self, ids: Tensor, labels: Tensor | None) -> Tensor:
        x = self.embedding(ids)  # (B, T, E)
        if self.label_embedding is None:
            return x
        if labels is None:
            raise ValueError("this model is conditioned on a label; pass labels")
        label = self.label_embedding(labels)[:, None, :].expand(-1, ids.shape[1], -1)  # (B, T, L)
        return torch.cat([x, label], dim=-1)

    def forward(self, ids: Tensor, labels: Tensor | None = None, state: State | None = None,
                lengths: Tensor | None = None) -> tuple[Tensor, State]:
        out, state = self.recurrent(self.dropout(self.inputs(ids, labels)), state, lengths)  # (B, T, H)
        return self.head(self.dropout(out)), state  # (B, T, V)

    def conditioned(self, labels: Tensor | None) -> ConditionedLineModel:
        """The ``(ids, state) -> (logits, state)`` view that sampling expects, labels fixed."""
        return ConditionedLineModel(self, labels)


class ConditionedLineModel(nn.Module):
    def __init__(self, model: LineModel, labels: Tensor | None) -> None:
        super().__init__()
        self.model, self.labels = model, labels

    def forward(self, ids: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        return self.model(ids, self.labels, state)

    def make_stepper(self, dtype: torch.dtype = torch.float32) -> LineStepper:
        return LineStepper(self.model, self.labels, dtype)


class LineStepper:
    """One token per row in, logits out. The label's share of the first layer's input is folded
    into the stepper's lookup table: a row per (label in use, token)."""

    def __init__(self, model: LineModel, labels: Tensor | None, dtype: torch.dtype = torch.float32) -> None:
        table = model.embedding.weight.detach()  # (V, E)
        self.offsets = None
        if model.label_embedding is not None and labels is not None:
            used, position = torch.unique(labels, return_inverse=True)
            label_rows = model.label_embedding.weight.detach()[used]  # (U, L)
            vocab = table.shape[0]
            table = torch.cat([table.repeat(len(used), 1), label_rows.repeat_interleave(vocab, dim=0)], dim=1)
            self.offsets = position * vocab  # row of (label, token 0) for each batch row
        self.recurrent = Stepper(model.recurrent, table, dtype)
        self.head_weight, self.head_bias = model.head.weight.detach().t().to(dtype), model.head.bias.detach()

    def step(self, tokens: Tensor, state: State | None) -> tuple[Tensor, State]:
        rows = tokens if self.offsets is None else tokens + self.offsets
        h, state = self.recurrent.step(rows, state)
        return torch.mm(h.to(self.head_weight.dtype), self.head_weight).add(self.head_bias), state
