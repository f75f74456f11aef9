"""Unroll a cell over time: stacked layers, dropout between them, both directions.

This is the from-equation path: slower than the fused kernels, but every line is
the textbook recurrence, it supports what they cannot (the GRU of Cho et al.),
and it is the path the tests compare against ``torch.nn`` and the NumPy reference.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from rnnkit.nn.cells import CellState, make_cell
from rnnkit.nn.naming import canonical_to_cell, layer_key, use_canonical_names

State = tuple[CellState, ...]  # one entry per (layer, direction), torch.nn's order


class RecurrentShape(nn.Module):
    """What both backends share: the hyperparameters that make their weights interchangeable."""

    def __init__(self, cell: str, input_size: int, hidden_size: int, num_layers: int, dropout: float,
                 bidirectional: bool, nonlinearity: str, reset: str) -> None:
        super().__init__()
        self.cell_type, self.input_size, self.hidden_size = cell, input_size, hidden_size
        self.num_layers, self.dropout, self.bidirectional = num_layers, dropout, bidirectional
        self.nonlinearity, self.reset = nonlinearity, reset
        self.directions = 2 if bidirectional else 1


class Recurrent(RecurrentShape):
    """``forward(x (B, T, I), state=None) -> (out (B, T, D*H), state)``, batch-first.

    ``state`` holds one entry per layer and direction (``l0, l0_reverse, l1, ...``):
    a tensor (B, H) for RNN and GRU, a pair (h, c) for the LSTM. With ``lengths (B,)``
    a padded batch runs as if each row were alone: past a row's length its state is
    held and its outputs are zero, so the returned state is the one at the true end
    and the reverse direction starts at the last real token.
    """

    def __init__(self, cell: str, input_size: int, hidden_size: int, num_layers: int = 1,
                 dropout: float = 0.0, bidirectional: bool = False,
                 nonlinearity: str = "tanh", reset: str = "after") -> None:
        super().__init__(cell, input_size, hidden_size, num_layers, dropout, bidirectional, nonlinearity, reset)
        self.cells = nn.ModuleDict()
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else hidden_size * self.directions
            for reverse in range(self.directions):
                self.cells[layer_key(layer, bool(reverse))] = make_cell(
                    cell, layer_input, hidden_size, nonlinearity, reset)
        use_canonical_names(self, _internal_to_canonical, _canonical_to_internal)

    def forward(self, x: Tensor, state: State | None = None,
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
            if self.dropout > 0 and layer < self.num_layers - 1:
                layer_input = F.dropout(layer_input, self.dropout, self.training)
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
