"""Encoder-decoder translation models: Sutskever, Cho, Bahdanau and Luong in one class.

The encoder reads the source (optionally reversed, optionally both ways); the
decoder starts from a bridge of the encoder's final states and sees the source
through one of:

- ``none``: the final state only (Sutskever et al. 2014);
- ``fixed``: the encoder's final summary fed with every target token and to the
  output (Cho et al. 2014);
- ``bahdanau``: additive attention queried with the previous decoder state, its
  context fed with the token (Bahdanau et al. 2014);
- ``dot`` / ``general``: multiplicative attention queried with the new decoder
  state, combined with it before the output (Luong et al. 2015); with input feeding
  that combination (the attentional vector) is also fed with the next token.

Input feeding needs no state of its own: the previous attentional vector is a function of
the previous top hidden state and the memory, so a step recomputes it from the state (the
first step from the bridge's state) and beam search, serving and export carry only the
recurrent state. Training carries it from one step to the next instead.

Ids 0, 1 and 2 are padding, start and end; a tokenizer's id k is k + 3.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import Tensor, nn

from rnnkit.config import option
from rnnkit.errors import UserError
from rnnkit.nn import State
from rnnkit.nn.attention import make_attention
from rnnkit.nn.config import recurrent_layers
from rnnkit.nn.state import select_rows as reorder_state  # noqa: F401  (the decoders' and tests' name)
from rnnkit.nn.state import top_hidden
from rnnkit.tasks.sections import ModelConfig

PAD, BOS, EOS, SPECIALS = 0, 1, 2, 3
CONDITIONING = ("none", "fixed", "bahdanau", "dot", "general")


@dataclasses.dataclass
class Seq2SeqConfig:
    attention: str = option("general", "translate: how the decoder sees the source: none (the encoder's final "
                            "state, Sutskever), fixed (that summary at every step, Cho), bahdanau (additive "
                            "attention), dot or general (Luong)", CONDITIONING)
    reverse_source: bool = option(False, "translate: read each source sentence backwards (Sutskever)")
    teacher_forcing: float = option(1.0, "translate: share of training steps fed the true previous token "
                                    "(the rest are fed the model's own guess)")
    label_smoothing: float = option(0.1, "translate: mass spread over the vocabulary in the training loss")
    bidirectional: bool = option(True, "translate: the encoder reads each source sentence both ways")
    batch_tokens: int = option(0, "translate: batches of about this many source and target tokens, padding "
                               "counted, sorted by length and shuffled each epoch (0: as many as --batch-size "
                               "average training pairs hold; batches of --batch-size pairs when it is given)")
    scaled_attention: bool = option(True, "translate: divide dot and general attention scores by the square "
                                    "root of the decoder's width (measured: +3.7 greedy sacreBLEU in 5 minutes)")
    input_feeding: bool = option(False, "translate: feed the previous attentional vector with each target "
                                 "token (Luong; dot and general attention; decodes one step at a time)")
    tune_length_penalty: int = option(5, "translate: when training ends, choose the length penalty (--alpha) "
                                      "for a beam this wide on up to 500 validation pairs, stored in the run "
                                      "and used by eval, predict and serve (0 or 1: skip)")


@dataclasses.dataclass
class Memory:
    """What the decoder reads from the encoder, for a batch (or a beam of batches)."""

    values: Tensor   # (B, S, M) encoder outputs
    keys: Tensor     # (B, S, ...) the attention's per-position projection of them
    mask: Tensor     # (B, S) True on real tokens
    summary: Tensor  # (B, M) the final states of the top layer, both directions

    def repeat(self, times: int) -> Memory:
        return Memory(*(t.repeat_interleave(times, dim=0) for t in dataclasses.astuple(self)))


def reversed_positions(lengths: Tensor, steps: int) -> Tensor:
    """(B, steps): where each position's token goes when a row's first ``length`` are reversed."""
    position = torch.arange(steps, device=lengths.device)[None, :]
    source = lengths[:, None] - 1 - position
    return torch.where(source >= 0, source, position)


def reverse_within(ids: Tensor, lengths: Tensor) -> Tensor:
    """Each row's first ``length`` tokens in reverse order, the padding left in place."""
    return ids.gather(1, reversed_positions(lengths.to(ids.device), ids.shape[1]))


def refuse_bad_shapes(config: ModelConfig, s2s: Seq2SeqConfig, bidirectional: bool) -> None:
    """Flags that cannot build a model, refused before any data is read."""
    if s2s.attention not in CONDITIONING:
        raise UserError(f"--attention must be one of {', '.join(CONDITIONING)}, not {s2s.attention!r}")
    hidden, embedding = config.hidden_size, config.embedding_size or config.hidden_size
    if config.tie_weights and embedding != hidden:
        raise UserError("--tie-weights shares the target embedding with the output layer: it needs "
                        "--embedding-size equal to --hidden-size")
    if s2s.input_feeding and s2s.attention not in ("dot", "general"):
        raise UserError("--input-feeding feeds Luong attention's attentional vector: use --attention general "
                        "or dot, or drop --input-feeding")
    if s2s.attention == "dot" and bidirectional:
        raise UserError("dot attention needs the encoder's outputs as wide as the decoder's: "
                        "use --attention general, or --no-bidirectional")


class Seq2Seq(nn.Module):
    """``forward(source, lengths, target_in) -> (logits (B, T, V), attention (B, T, S) or None)``."""

    def __init__(self, source_vocab: int, target_vocab: int, config: ModelConfig, s2s: Seq2SeqConfig,
                 bidirectional: bool) -> None:
        super().__init__()
        hidden, embedding = config.hidden_size, config.embedding_size or config.hidden_size
        memory = hidden * (2 if bidirectional else 1)
        refuse_bad_shapes(config, s2s, bidirectional)
        self.config, self.s2s, self.bidirectional = config, s2s, bidirectional
        self.source_embedding = nn.Embedding(source_vocab, embedding, padding_idx=PAD)
        self.target_embedding = nn.Embedding(target_vocab, embedding, padding_idx=PAD)
        self.encoder = recurrent_layers(config, embedding, bidirectional)
        fed = embedding + (memory if s2s.attention in ("fixed", "bahdanau") else 0)
        fed += hidden if s2s.input_feeding else 0
        self.decoder = recurrent_layers(config, fed, False)
        self.bridge_h = nn.Linear(memory, hidden)
        self.bridge_c = nn.Linear(memory, hidden) if config.cell == "lstm" else None
        self.attention = (make_attention(s2s.attention, hidden, memory, s2s.scaled_attention)
                          if s2s.attention in ("bahdanau", "dot", "general") else None)
        self.combine = nn.Linear(hidden + memory, hidden) if s2s.attention != "none" else None
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(hidden, target_vocab)
        if config.tie_weights:  # Press & Wolf 2017: the target embedding is the output layer's weights
            self.head.weight = self.target_embedding.weight

    # -- encoder ---------------------------------------------------------------------------
    def encode(self, source: Tensor, lengths: Tensor) -> tuple[Memory, State]:
        """The memory the decoder attends to and the decoder's initial state."""
        if self.s2s.reverse_source:
            source = reverse_within(source, lengths)
        outputs, final = self.encoder(self.dropout(self.source_embedding(source)), lengths=lengths)
        directions = 2 if self.bidirectional else 1
        hidden_of = [s[0] if isinstance(s, tuple) else s for s in final]
        cells_of = [s[1] for s in final] if self.bridge_c is not None else None
        state = []
        for layer in range(self.config.num_layers):
            rows = slice(layer * directions, (layer + 1) * directions)
            h = torch.tanh(self.bridge_h(torch.cat(hidden_of[rows], dim=-1)))
            state.append((h, self.bridge_c(torch.cat(cells_of[rows], dim=-1))) if cells_of is not None else h)
        summary = torch.cat(hidden_of[-directions:], dim=-1)
        keys = self.attention.prepare(outputs) if self.attention is not None else outputs[:, :0]
        mask = torch.arange(source.shape[1], device=source.device)[None, :] < lengths.to(source.device)[:, None]
        return Memory(outputs, keys, mask, summary), tuple(state)

    # -- decoder ---------------------------------------------------------------------------
    def _reading_order(self, weights: Tensor | None, memory: Memory) -> Tensor | None:
        """Attention weights over the source as written, also when it was read reversed."""
        if weights is None or not self.s2s.reverse_source:
            return weights
        index = reversed_positions(memory.mask.sum(1), memory.mask.shape[1])
        if weights.dim() == 3:
            index = index.unsqueeze(1).expand_as(weights)
        return weights.gather(-1, index)

    def _attentional(self, top: Tensor, context: Tensor | None) -> Tensor:
        """The vector the output layer reads: the top state, combined with the context when there is one."""
        if self.combine is None:
            return top
        return torch.tanh(self.combine(torch.cat([top, context], dim=-1)))

    def _output(self, top: Tensor, context: Tensor | None) -> Tensor:
        return self.head(self.dropout(self._attentional(top, context)))

    def _fed_back(self, state: State, memory: Memory) -> Tensor:
        """The attentional vector of the step that left ``state`` behind (input feeding)."""
        top = top_hidden(state)
        context, _ = self.attention(top, memory.keys, memory.values, memory.mask)
        return self._attentional(top, context)

    def step(self, tokens: Tensor, state: State, memory: Memory) -> tuple[Tensor, State, Tensor | None]:
        """One target token (B,) in: next-token logits (B, V), the new state, the attention weights (B, S)."""
        fed = self._fed_back(state, memory) if self.s2s.input_feeding else None
        logits, state, weights, _ = self._step(tokens, state, memory, fed)
        return logits, state, weights

    def _step(self, tokens: Tensor, state: State, memory: Memory, fed: Tensor | None,
              ) -> tuple[Tensor, State, Tensor | None, Tensor | None]:
        """``step`` given the previous attentional vector; it also returns this step's."""
        x = self.dropout(self.target_embedding(tokens))
        kind, weights, context = self.s2s.attention, None, None
        if kind == "fixed":
            context = memory.summary
        elif kind == "bahdanau":
            context, weights = self.attention(top_hidden(state), memory.keys, memory.values, memory.mask)
        x = torch.cat([part for part in (x, context, fed) if part is not None], dim=-1)
        out, state = self.decoder(x.unsqueeze(1), state)
        if kind in ("dot", "general"):
            context, weights = self.attention(out[:, 0], memory.keys, memory.values, memory.mask)
        attentional = self._attentional(out[:, 0], context)
        return self.head(self.dropout(attentional)), state, self._reading_order(weights, memory), attentional

    def forward(self, source: Tensor, lengths: Tensor, target_in: Tensor,
                teacher_forcing: float = 1.0, generator: torch.Generator | None = None,
                ) -> tuple[Tensor, Tensor | None]:
        """Logits for every target position; fed the true previous tokens unless ``teacher_forcing`` < 1,
        when each position's coin comes from ``generator`` (a CPU one)."""
        memory, state = self.encode(source, lengths)
        one_call = self.s2s.attention != "bahdanau" and not self.s2s.input_feeding
        if teacher_forcing >= 1.0 and one_call:
            return self._whole_target(target_in, state, memory)
        return self._step_by_step(target_in, state, memory, teacher_forcing, generator)

    def _whole_target(self, target_in: Tensor, state: State, memory: Memory) -> tuple[Tensor, Tensor | None]:
        """Teacher forcing in one recurrent call, when no step's input depends on the one before."""
        kind, context, weights = self.s2s.attention, None, None
        x = self.dropout(self.target_embedding(target_in))
        if kind == "fixed":
            context = memory.summary.unsqueeze(1).expand(-1, x.shape[1], -1)
            x = torch.cat([x, context], dim=-1)
        out, _ = self.decoder(x, state)
        if kind in ("dot", "general"):
            context, weights = self.attention(out, memory.keys, memory.values, memory.mask)
        return self._output(out, context), self._reading_order(weights, memory)

    def _step_by_step(self, target_in: Tensor, state: State, memory: Memory, teacher_forcing: float,
                      generator: torch.Generator | None) -> tuple[Tensor, Tensor | None]:
        """One step a token: Bahdanau's and input feeding's inputs need the step before."""
        logits, weights, tokens = [], [], target_in[:, 0]
        fed = self._fed_back(state, memory) if self.s2s.input_feeding else None
        with self.decoder.one_weight_mask():  # weight drop: one mask for the whole target
            for t in range(target_in.shape[1]):
                step_logits, state, step_weights, attentional = self._step(tokens, state, memory, fed)
                fed = attentional if self.s2s.input_feeding else None
                logits.append(step_logits)
                weights.append(step_weights)
                if t + 1 < target_in.shape[1]:
                    tokens = target_in[:, t + 1]
                    if teacher_forcing < 1.0:
                        own = torch.rand(tokens.shape, generator=generator)
                        tokens = torch.where(own.to(tokens.device) < teacher_forcing, tokens,
                                             step_logits.argmax(-1))
        stacked = torch.stack(weights, dim=1) if weights[0] is not None else None
        return torch.stack(logits, dim=1), stacked
