"""Sampling where every row is its own request: per-row settings, generators and results.

A server steps many clients' streams in one batch, and a client's text must be the
one it gets alone (and the one ``rnnkit sample`` prints). Two things make a row's
result independent of its neighbours:

- ``rowwise_product``: a matrix-product kernel is chosen by shape, and a row computed
  in a batch of 32 can differ in its last bit from the same row at batch 1. The
  stepper's products go the fastest way checked once per weight shape and machine to give every
  batch size the batch-1 rows bit for bit (a plain product, one batched
  matrix-vector product per row, or a loop of batch-1 products). The rest of a step
  is element-wise and works the same on every row.
- ``sample_rows`` draws each row from its own generator with the exponential race
  (the token is the argmax of p / q with q ~ Exp(1), which is how ``torch.multinomial``
  draws one sample), and every other operation in it works row by row.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from rnnkit.decode.way_cache import remember_way, remembered_way
from rnnkit.nn.recurrent import State
from rnnkit.nn.state import map_state

Product = Callable[[Tensor, Tensor], Tensor]


@dataclasses.dataclass(frozen=True)
class RowSampling:
    """How one row draws: temperature 0 is the argmax; top_k 0 and top_p 1 filter nothing."""

    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0


def filter_rows(logits: Tensor, top_k: Tensor, top_p: Tensor) -> Tensor:
    """Per row, -inf outside its top k and outside the smallest set holding mass >= its p."""
    vocab = logits.shape[-1]
    ordered, order = torch.sort(logits, dim=-1, descending=True)
    keep_k = torch.where((top_k > 0) & (top_k < vocab), top_k, vocab)
    kth = ordered.gather(-1, (keep_k - 1)[:, None])
    logits = logits.masked_fill(logits < kth, float("-inf"))
    ordered = ordered.masked_fill(ordered < kth, float("-inf"))
    probs = torch.softmax(ordered, dim=-1)
    mass_before = probs.cumsum(dim=-1) - probs
    drop_ordered = (mass_before >= top_p[:, None]) & (top_p < 1.0)[:, None]  # the first token always stays
    drop = torch.zeros_like(drop_ordered).scatter(-1, order, drop_ordered)
    return logits.masked_fill(drop, float("-inf"))


def sample_rows(logits: Tensor, settings: Sequence[RowSampling], generators: Sequence[torch.Generator]) -> Tensor:
    """One token per row of ``logits (B, V)``, row ``i`` drawn with ``settings[i]`` from ``generators[i]``."""
    logits = logits.float()
    device = logits.device
    temperature = torch.tensor([s.temperature for s in settings], device=device)
    greedy = temperature <= 0
    scaled = logits / torch.where(greedy, 1.0, temperature)[:, None]
    top_k = torch.tensor([s.top_k for s in settings], device=device)
    top_p = torch.tensor([s.top_p for s in settings], device=device)
    filtered = scaled if not any(s.top_k or s.top_p < 1 for s in settings) else filter_rows(scaled, top_k, top_p)
    probs = torch.softmax(filtered, dim=-1)  # (filtering is the identity on a row that asks for none)
    race = torch.ones_like(probs) if generators[0].device == probs.device else torch.ones(probs.shape)
    for row, (setting, generator) in enumerate(zip(settings, generators, strict=True)):
        if setting.temperature > 0:  # a greedy row draws nothing, so its generator stays where it was
            race[row].exponential_(generator=generator)
    race = race.to(device)
    drawn = (probs / race).argmax(dim=-1)
    return torch.where(greedy, logits.argmax(dim=-1), drawn)


def take_rows(state: State, index: Tensor) -> State:
    return map_state(lambda t: t.index_select(0, index), state)


def join_rows(states: Sequence[State]) -> State:
    """States of the same structure stacked along the batch."""
    first = states[0]
    if isinstance(first, Tensor):
        return torch.cat(list(states), dim=0)
    return tuple(join_rows([s[k] for s in states]) for k in range(len(first)))


def rowwise_product(x: Tensor, weight: Tensor) -> Tensor:
    """``x @ weight`` computed so that each row's result does not depend on the other rows.

    The way is chosen once per weight shape by ``_way_for``; the command line's batch of one
    goes the same way, so a row in a server's batch gets the command line's bits."""
    return PRODUCTS[_way_for(tuple(weight.shape), weight.dtype, weight.device.type)](x, weight)


def _plain_product(x: Tensor, weight: Tensor) -> Tensor:
    return torch.mm(x, weight)


def _batched_vector_products(x: Tensor, weight: Tensor) -> Tensor:
    return torch.bmm(x[:, None], weight.expand(x.shape[0], *weight.shape))[:, 0]


def _row_by_row(x: Tensor, weight: Tensor) -> Tensor:
    if x.shape[0] == 1:  # the command line's every step: no copy through cat
        return torch.mm(x, weight)
    return torch.cat([torch.mm(x[row:row + 1], weight) for row in range(x.shape[0])])


# fastest first; the last is always the same at every batch size
PRODUCTS: dict[str, Product] = {"mm": _plain_product, "bmm": _batched_vector_products, "rows": _row_by_row}
MAX_ROWS = 64  # the batch sizes checked: a batcher runs at most this many rows (--max-batch)
_WAYS: dict[tuple, str] = {}


def _way_for(shape: tuple[int, int], dtype: torch.dtype, device: str) -> str:
    """The fastest of ``PRODUCTS`` whose rows are the same at every batch size up to ``MAX_ROWS``
    for this shape on this machine. Kernels are picked by shape, never by values, so a check
    per shape holds for all inputs, provided its inputs show a change of kernel (``probe_draws``);
    and per machine, so it is remembered on disk (``way_cache``) for later processes."""
    key = (shape, dtype, device)
    if key not in _WAYS:
        way = remembered_way(shape, dtype, device)
        if way not in PRODUCTS:
            draws = probe_draws(shape, dtype, device)
            way = next(way for way, product in PRODUCTS.items()
                       if way == "rows" or same_at_every_batch_size(product, draws))
            remember_way(shape, dtype, device, way)
        _WAYS[key] = way
    return _WAYS[key]


def probe_draws(shape: tuple[int, int], dtype: torch.dtype, device: str) -> list[tuple[Tensor, Tensor]]:
    """(weight, x) pairs on which two kernels that sum in different orders disagree.

    Random values show it in fp32, whose result holds the accumulator's bits. A bf16 or fp16
    result keeps 8 or 11 bits, so two summation orders mostly round a random sum alike (on a
    CPU with AMX, a bf16 batch of 16 rows or more goes to another kernel and differs in one
    element of thousands); so those first get values whose products cancel in pairs: where
    the exact sum is zero, the result is the rounding error itself, and any change shows."""
    generator = torch.Generator().manual_seed(0)
    inputs, outputs = shape
    weight = torch.randn(inputs, outputs, generator=generator)
    x = torch.randn(MAX_ROWS, inputs, generator=generator)
    order, half = torch.randperm(inputs, generator=generator), inputs // 2
    plus, minus, unused = order[:half], order[half:2 * half], order[2 * half:]
    cancelling_weight, cancelling_x = weight.clone(), x.clone()
    cancelling_weight[minus] = -weight[plus]
    cancelling_x[:, minus] = x[:, plus]
    cancelling_x[:, unused] = 0.0
    draws = [(cancelling_weight, cancelling_x), (weight, x)] if dtype.itemsize < 4 else [(weight, x)]
    return [(w.to(dtype=dtype, device=device), v.to(dtype=dtype, device=device)) for w, v in draws]


def same_at_every_batch_size(product: Product, draws: Sequence[tuple[Tensor, Tensor]]) -> bool:
    """Whether ``product`` gives every row of each draw the bits it gets alone, at batch sizes 2 and up."""
    for weight, x in draws:
        alone = torch.cat([product(x[row:row + 1], weight) for row in range(x.shape[0])])
        if not all(torch.equal(product(x[:rows], weight), alone[:rows]) for rows in range(2, x.shape[0] + 1)):
            return False
    return True
