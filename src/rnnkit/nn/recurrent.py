"""Unroll a cell over time: stacked layers, dropout between them, both directions.

This is the from-equation path: slower than the fused kernels, but every line is
the textbook recurrence, it supports what they cannot (the GRU of Cho et al.),
and it is the path the tests compare against ``torch.nn`` and the NumPy reference.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from rnnkit.nn.cells import CellState, make_cell
from rnnkit.nn.naming import canonical_to_cell, layer_key, use_canonical_names
from rnnkit.nn.regularisers import dropped_hidden_weights, locked_dropout

State = tuple[CellState, ...]  # one entry per (layer, direction), torch.nn's order


class RecurrentShape(nn.Module):
    """What every backend shares: the hyperparameters that make their weights interchangeable, and
    the regularisers that act the same on all of them (``nn.regularisers``).

    ``forward`` drops the recurrent matrices (weight drop) and hands them to the backend's ``run``."""

    def __init__(self, cell: str, input_size: int, hidden_size: int, num_layers: int, dropout: float,
                 bidirectional: bool, nonlinearity: str, reset: str, weight_drop: float = 0.0,
                 locked_dropout: float = 0.0) -> None:
        super().__init__()
        self.cell_type, self.input_size, self.hidden_size = cell, input_size, hidden_size
        self.num_layers, self.dropout, self.bidirectional = num_layers, dropout, bidirectional
        self.nonlinearity, self.reset = nonlinearity, reset
        self.weight_drop, self.locked_dropout = weight_drop, locked_dropout
        self.directions = 2 if bidirectional else 1

    def forward(self, x: Tensor, state: State | None = None, lengths: Tensor | None = None, *,
                weights_dropped: bool = False) -> tuple[Tensor, State]:
        """``weights_dropped`` marks the inner call, whose recurrent matrices are already the dropped ones."""
        if self.training and self.weight_drop > 0 and not weights_dropped:
            dropped = self.__dict__.get("_held_mask") or dropped_hidden_weights(self, self.weight_drop)
            return torch.func.functional_call(self, dropped, (x, state, lengths), {"weights_dropped": True})
        return self.run(x, state, lengths)

    @contextlib.contextmanager
    def one_weight_mask(self) -> Iterator[None]:
        """For callers that run the stack one step at a time (attention decoders): the recurrent
        matrices are dropped once on entry and every call inside uses them, one mask per batch."""
        if not (self.training and self.weight_drop > 0):
            yield
            return
        self.__dict__["_held_mask"] = dropped_hidden_weights(self, self.weight_drop)
        try:
            yield
        finally:
            self.__dict__.pop("_held_mask", None)

    def run(self, x: Tensor, state: State | None, lengths: Tensor | None) -> tuple[Tensor, State]:
        raise NotImplementedError

    def between_layers(self, x: Tensor) -> Tensor:
        """Dropout on one layer's output before the next reads it: locked when asked, else per step."""
        if self.locked_dropout > 0:
            return locked_dropout(x, self.locked_dropout, self.training)
        return F.dropout(x, self.dropout, self.training) if self.dropout > 0 else x


class Recurrent(RecurrentShape):
    """``forward(x (B, T, I), state=None) -> (out (B, T, D*H), state)``, batch-first.

    ``state`` holds one entry per layer and direction (``l0, l0_reverse, l1, ...``):
    a tensor (B, H) for RNN and GRU, a pair (h, c) for the LSTM. With ``lengths (B,)``
    a padded batch runs as if each row were alone: past a row's length its state is
    held and its outputs are zero, so the returned state is the one at the true end
    and the reverse direction starts at the last real token.
    """

    def __init__(self, cell: str, input_size: int, hidden_size: int, num_layers: int = 1,
                 dropout: float = 0.0, bidirectional: bool = False, nonlinearity: str = "tanh",
                 reset: str = "after", weight_drop: float = 0.0, locked_dropout: float = 0.0) -> None:
        super().__init__(cell, input_size, hidden_size, num_layers, dropout, bidirectional, nonlinearity, reset,
                         weight_drop, locked_dropout)
        self.cells = nn.ModuleDict()
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else hidden_size * self.directions
            for reverse in range(self.directions):
                self.cells[layer_key(layer, bool(reverse))] = make_cell(
                    cell, layer_input, hidden_size, nonlinearity, reset)
        use_canonical_names(self, _internal_to_canonical, _canonical_to_internal)

    def run(self, x: Tensor, state: State | None = None,
            lengths: Tensor | None = None) -> tuple[Tensor, State]:
        batch, steps, _ = x.shape
        valid = None if lengths is None else (
            torch.arange(steps, device=x.device)[:, None] < lengths.to(x.device)[None, :])[..., None]  # (T, B, 1)
        new_state: list[CellState] = []
        layer_input = x
        for layer in range(self.num_layers):
            outputs = []
            for reverse in range(self.directions):
                index = layer * self.directions + reverse
                cell = self.cells[layer_key(layer, bool(reverse))]
                cell_state = state[index] if state is not None else cell.initial_state(batch, x)
                out, cell_state = self._run_direction(cell, layer_input, cell_state, bool(reverse), valid)
                outputs.append(out)  # (B, T, H)
                new_state.append(cell_state)
            layer_input = outputs[0] if len(outputs) == 1 else torch.cat(outputs, dim=-1)
            if layer < self.num_layers - 1:
                layer_input = self.between_layers(layer_input)
        return layer_input, tuple(new_state)


    def _run_direction(self, cell, x: Tensor, state: CellState, reverse: bool,
                       valid: Tensor | None) -> tuple[Tensor, CellState]:
        """One direction of one layer over the sequence: (B, T, I) -> ((B, T, H), final state)."""
        steps = x.shape[1]
        gx = cell.project_input(x)  # (B, T, gates*H): all steps in one matmul
        hs: list[Tensor] = [x] * steps
        for t in (reversed(range(steps)) if reverse else range(steps)):
            h, new_state = cell.step(gx[:, t], state)
            if valid is None:
                hs[t], state = h, new_state
            else:  # padding: hold the state, output zero
                hs[t] = h * valid[t]
                state = _where(valid[t], new_state, state)
        return torch.stack(hs, dim=1), state


def _where(keep: Tensor, new: CellState, old: CellState) -> CellState:
    if isinstance(new, tuple):
        return tuple(torch.where(keep, n, o) for n, o in zip(new, old, strict=True))
    return torch.where(keep, new, old)


def _internal_to_canonical(key: str) -> str | None:
    parts = key.split(".")  # cells.l0_reverse.weight_ih
    if len(parts) == 3 and parts[0] == "cells":
        return f"{parts[2]}_{parts[1]}"
    return None


def _canonical_to_internal(key: str) -> str | None:
    found = canonical_to_cell(key)
    return f"cells.{found[0]}.{found[1]}" if found else None
