"""Sentences to ids and back, and batched greedy or beam translation with a ``Seq2Seq``.

Decoding sorts sentences by length so each batch pads little, translates the
batch with ``decode.beam``, and returns the results in the caller's order.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from rnnkit.data.sequences import pad
from rnnkit.data.tokenizers import Tokenizer
from rnnkit.decode.beam import Hypothesis, beam_search, greedy, log_prob_step
from rnnkit.tasks.translate.model import BOS, EOS, SPECIALS, Seq2Seq, reorder_state
from rnnkit.train.precision import autocast


@dataclasses.dataclass
class Decoding:
    """How to search: beam 1 is greedy; ``alpha`` is the length penalty's exponent."""

    beam: int = 1
    alpha: float = 0.0
    n_best: int = 1
    max_ratio: float = 2.0   # a translation may be this many times the source's tokens, plus max_extra,
    max_extra: int = 10
    max_length: int = 0      # or at most this many tokens, when above 0
    batch_size: int = 64


def encode_source(tokenizer: Tokenizer, text: str) -> np.ndarray:
    return tokenizer.encode(text) + SPECIALS


def encode_target(tokenizer: Tokenizer, text: str) -> np.ndarray:
    """The target's ids with the end token, so the model learns where to stop."""
    return np.append(tokenizer.encode(text) + SPECIALS, EOS)


def decode_target(tokenizer: Tokenizer, ids: list[int]) -> str:
    return tokenizer.decode(np.asarray([i for i in ids if i >= SPECIALS], dtype=np.int64) - SPECIALS).strip()


def target_batch(targets: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """(input: start + tokens, output: tokens + end), both padded."""
    inputs, _ = pad([np.concatenate([[BOS], t[:-1]]) for t in targets])
    outputs, _ = pad(targets)
    return inputs, outputs


@torch.no_grad()
def translate_ids(model: Seq2Seq, sources: list[np.ndarray], decoding: Decoding,
                  precision: str = "fp32") -> list[list[Hypothesis]]:
    """The ``n_best`` hypotheses of each source, in the order given."""
    model.eval()
    device = next(model.parameters()).device
    order = np.argsort([len(s) for s in sources], kind="stable")
    found: list[list[Hypothesis]] = [[] for _ in sources]
    for start in range(0, len(order), decoding.batch_size):
        chosen = order[start:start + decoding.batch_size]
        ids, lengths = pad([sources[i] for i in chosen])
        ids, lengths = ids.to(device), lengths.to(device)
        limits = [decoding.max_length or int(n * decoding.max_ratio) + decoding.max_extra for n in lengths.tolist()]
        with autocast(device, precision):
            memory, state = model.encode(ids, lengths)
            if decoding.beam <= 1 and decoding.n_best <= 1:
                results = [[h] for h in greedy(log_prob_step(model.step, memory), state, len(chosen), BOS, EOS, limits,
                                               device)]
            else:
                beam = decoding.beam
                wide = memory.repeat(beam)
                state = reorder_state(state, torch.arange(len(chosen), device=device).repeat_interleave(beam))
                results = beam_search(log_prob_step(model.step, wide), reorder_state, state, len(chosen), beam,
                                      BOS, EOS, limits, device, decoding.alpha, decoding.n_best)
        for index, result in zip(chosen, results, strict=True):
            found[index] = result
    return found

