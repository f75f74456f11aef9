"""Sampling from a language model: temperature, top-k, top-p, priming.

The model is read once over the priming text, then advanced one token at a time
with its state carried, so each new token costs one step of the network.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

import torch
from torch import Tensor


class TokenStepper(Protocol):
    def step(self, tokens: Tensor, state) -> tuple[Tensor, object]: ...


class SteppableModel(Protocol):
    def __call__(self, ids: Tensor, state=None) -> tuple[Tensor, object]: ...
    def make_stepper(self, dtype: torch.dtype = torch.float32) -> TokenStepper: ...


@torch.no_grad()
def read_prime(model: SteppableModel, prime: Tensor, precision: str = "fp32") -> tuple[Tensor, object]:
    """One pass over ``prime (B, P)``: the logits after its last token (fp32) and the state."""
    with torch.autocast(prime.device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
        logits, state = model(prime)
    return logits[:, -1].float(), state


@torch.no_grad()
def generate(model: SteppableModel, prime: Tensor, length: int, temperature: float = 1.0,
             top_k: int = 0, top_p: float = 1.0, generator: torch.Generator | None = None,
             precision: str = "fp32") -> Iterator[Tensor]:
    """Yield ``length`` new tokens (B,) after reading ``prime (B, P)``, P >= 1.

    ``precision`` (resolved: fp32 or bf16) is the matrix multiplies'; the state and the
    logits stay fp32. Every row draws from ``generator`` (a fresh one seeded from torch's
    global generator if None)."""
    from rnnkit.decode.rows import RowSampling, sample_rows

    if generator is None:
        generator = torch.Generator(device=prime.device).manual_seed(int(torch.randint(2**62, ())))
    was_training = model.training
    model.eval()
    try:
        next_logits, state = read_prime(model, prime, precision)
        stepper = model.make_stepper(torch.bfloat16) if precision == "bf16" else model.make_stepper()
        rows = prime.shape[0]
        settings, generators = [RowSampling(temperature, top_k, top_p)] * rows, [generator] * rows
        for position in range(length):
            token = sample_rows(next_logits, settings, generators)
            yield token
            if position + 1 < length:
                next_logits, state = stepper.step(token, state)
    finally:
        model.train(was_training)


def generate_lines(model: SteppableModel, prime: Tensor, max_length: int, end: int, temperature: float = 1.0,
                   top_k: int = 0, top_p: float = 1.0, generator: torch.Generator | None = None,
                   precision: str = "fp32") -> list[list[int]]:
    """Sample one line per row of ``prime (B, P)``: tokens up to (not including) ``end``.

    Every row runs until it emits ``end`` or reaches ``max_length`` tokens; the batch
    stops as soon as every row has ended.
    """
    lines: list[list[int]] = [[] for _ in range(prime.shape[0])]
    open_rows = set(range(prime.shape[0]))
    for tokens in generate(model, prime, max_length, temperature, top_k, top_p, generator, precision):
        for row, token in enumerate(tokens.tolist()):
            if row in open_rows:
                if token == end:
                    open_rows.discard(row)
                else:
                    lines[row].append(token)
        if not open_rows:
            break
    return lines
