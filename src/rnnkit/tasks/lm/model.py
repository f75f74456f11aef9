"""The language model: embedding -> recurrent layers -> linear to the vocabulary.

It returns logits; losses belong to the training and evaluation code. The same
module serves characters, words and BPE tokens.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from rnnkit.decode.rows import Product, rowwise_product
from rnnkit.errors import UserError
from rnnkit.nn import State, Stepper
from rnnkit.nn.config import recurrent_layers
from rnnkit.nn.regularisers import embedding_dropout, locked_dropout
from rnnkit.tasks.sections import ModelConfig


class LanguageModel(nn.Module):
    """``forward(ids (B, T), state=None) -> (logits (B, T, V), state)``."""

    def __init__(self, vocab_size: int, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        embedding_size = config.embedding_size or config.hidden_size
        if config.tie_weights and embedding_size != config.hidden_size:
            raise UserError("--tie-weights needs --embedding-size equal to --hidden-size")
        self.embedding = nn.Embedding(vocab_size, embedding_size)
        self.recurrent = recurrent_layers(config, embedding_size)
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.hidden_size, vocab_size)
        if config.tie_weights:
            self.head.weight = self.embedding.weight
        nn.init.normal_(self.embedding.weight, std=0.1 if not config.tie_weights else embedding_size**-0.5)
        nn.init.zeros_(self.head.bias)

    def forward(self, ids: Tensor, state: State | None = None,
                with_activations: bool = False) -> tuple[Tensor, ...]:
        """``with_activations`` adds the last layer's outputs, undropped and dropped, for AR and TAR."""
        config, training = self.config, self.training
        x = embedding_dropout(self.embedding, ids, config.embedding_dropout, training)   # (B, T, E)
        raw, state = self.recurrent(locked_dropout(x, config.locked_dropout, training), state)  # (B, T, H)
        out = locked_dropout(raw, config.locked_dropout, training) if config.locked_dropout else self.dropout(raw)
        logits = self.head(out)  # (B, T, V)
        return (logits, state, (raw, out)) if with_activations else (logits, state)

    def make_stepper(self, dtype: torch.dtype = torch.float32,
                     product: Product = rowwise_product) -> LanguageModelStepper:
        """Row by row (``decode.rows``): a stream's text is the same alone or in a server's batch."""
        return LanguageModelStepper(self, dtype, product)


class LanguageModelStepper:
    """One token in, next-token logits out, over a snapshot of the model's weights."""

    def __init__(self, model: LanguageModel, dtype: torch.dtype = torch.float32,
                 product: Product = rowwise_product) -> None:
        self.recurrent = Stepper(model.recurrent, model.embedding.weight.detach(), dtype, product)
        self.head_weight = model.head.weight.detach().t().to(dtype)
        self.head_bias = model.head.bias.detach()
        self.dtype, self.product = dtype, product

    def step(self, tokens: Tensor, state: State | None) -> tuple[Tensor, State]:
        h, state = self.recurrent.step(tokens, state)
        return self.product(h.to(self.dtype), self.head_weight).add(self.head_bias), state  # fp32 logits
