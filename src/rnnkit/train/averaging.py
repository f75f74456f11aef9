"""An average of the weights along the training trajectory, validated and kept in their place.

The last iterate of a noisy optimiser sits somewhere on the floor of a valley; the mean
of the recent iterates sits nearer its middle. AWD-LSTM got part of its result from
averaged SGD (Polyak averaging from a point on); with Adam the common form is an
exponential moving average (Polyak & Juditsky 1992, and the EMA most image and
language models now keep). Two kinds:

- ``ema``: ``avg = d * avg + (1 - d) * w`` after every step, with the decay warmed up as
  ``min(d, (1 + n) / (10 + n))`` so that a short run is not averaged with its random start;
- ``tail``: the plain mean of every step's weights from a fraction of the budget on.

The loop trains the raw weights and validates, samples and keeps as best the average; the
average is part of every checkpoint, so a resumed run averages what an uninterrupted one would.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


def ema_decay(decay: float, updates: int) -> float:
    """The decay for the ``updates``-th update (0-based): warmed up, then ``decay``."""
    return min(decay, (1 + updates) / (10 + updates))


class WeightAverage:
    """Averaged copies of a model's parameters (fp32, on the model's device); off when both are 0."""

    def __init__(self, ema: float = 0.0, tail_from: float = 0.0) -> None:
        if ema and tail_from:
            raise ValueError("choose one average: --ema or --tail-average")
        if not 0.0 <= ema < 1.0 or not 0.0 <= tail_from < 1.0:
            raise ValueError("--ema and --tail-average take a number in [0, 1)")
        self.ema, self.tail_from = ema, tail_from
        self.updates = 0
        self.weights: dict[str, torch.Tensor] = {}

    @property
    def active(self) -> bool:
        return bool(self.ema or self.tail_from)

    @property
    def holding(self) -> bool:
        """Whether there is an average yet (a tail average starts part-way)."""
        return bool(self.weights)

    @torch.no_grad()
    def update(self, model: torch.nn.Module, run_progress: float) -> None:
        """Fold the model's current weights in (call after each optimiser step)."""
        if not self.active or (self.tail_from and run_progress < self.tail_from):
            return
        params = self._placed(model)
        if not self.weights:
            self.weights = {name: p.detach().float().clone() for name, p in params.items()}
        else:
            keep = ema_decay(self.ema, self.updates) if self.ema else self.updates / (self.updates + 1)
            for name, average in self.weights.items():
                average.lerp_(params[name].detach().float(), 1.0 - keep)
        self.updates += 1

    @contextlib.contextmanager
    @torch.no_grad()
    def applied(self, model: torch.nn.Module) -> Iterator[None]:
        """The model holds the average inside the block and its own weights again after it."""
        if not self.holding:
            yield
            return
        params = self._placed(model)
        own = {name: params[name].detach().clone() for name in self.weights}
        for name, average in self.weights.items():
            params[name].copy_(average)
        try:
            yield
        finally:
            for name, weights in own.items():
                params[name].copy_(weights)

    def _placed(self, model: torch.nn.Module) -> dict[str, torch.nn.Parameter]:
        """The model's parameters by name, with the average moved to their device (after a resume)."""
        params = dict(model.named_parameters())
        for name, average in self.weights.items():
            if average.device != params[name].device:
                self.weights[name] = average.to(params[name].device)
        return params

    def state(self) -> dict:
        return {"updates": self.updates, "weights": dict(self.weights)}

    def load(self, state: dict | None) -> None:
        state = state or {"updates": 0, "weights": {}}
        self.updates = int(state["updates"])
        self.weights = {name: tensor.float() for name, tensor in state["weights"].items()}
