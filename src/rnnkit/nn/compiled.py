"""The cells' own equations, run fast: the ``compiled`` backend.

Same weights, names and interface as ``Recurrent`` (it is one). Each layer does its
input projection for all time steps as one matrix multiply, then runs the
recurrence through ``scan``: a hand-written backward pass whose weight gradients are
one matrix multiply per layer, with each step's element-wise work fused by
``torch.compile``. Under bf16 autocast the matrix multiplies run in bf16 while the
state stays fp32. Padded batches (``lengths``) and Cho et al.'s GRU take the eager
path, which handles them.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional as F

from rnnkit.nn import pointwise
from rnnkit.nn.cells import CellState
from rnnkit.nn.naming import layer_key
from rnnkit.nn.recurrent import Recurrent, State
from rnnkit.nn.scan import GRUScan, LSTMScan, RNNScan


class CompiledRecurrent(Recurrent):
    """``Recurrent`` with each direction of each layer run by a whole-sequence ``scan``."""

    def __init__(self, *args, fuse_steps: bool = True, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fuse_steps = fuse_steps  # False: the same scan with eager element-wise steps

    def forward(self, x: Tensor, state: State | None = None,
                lengths: Tensor | None = None) -> tuple[Tensor, State]:
        if lengths is not None or (self.cell_type == "gru" and self.reset != "after"):
            return super().forward(x, state, lengths)
        device = x.device.type
        base = self.cells[layer_key(0, False)].weight_hh.dtype  # the state's and the gates' dtype
        dtype = torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else base
        fast = self.fuse_steps and pointwise.compiler_works()
        fns = pointwise.compiled_pointwise() if fast else pointwise.EAGER
        batch = x.shape[0]
        new_state: list[CellState] = []
        layer_input = x
        for layer in range(self.num_layers):
            outputs = []
            for reverse in range(self.directions):
                cell = self.cells[layer_key(layer, bool(reverse))]
                cell_state = state[layer * self.directions + reverse] if state is not None else \
                    cell.initial_state(batch, x.to(base))
                gx = cell.project_input(layer_input).to(base).transpose(0, 1)  # (T, B, G*H)
                if reverse:
                    gx = gx.flip(0)
                with torch.autocast(device, enabled=False):
                    out, cell_state = self._scan(cell, gx.contiguous(), cell_state, dtype, fns)
                outputs.append((out.flip(0) if reverse else out).transpose(0, 1))  # (B, T, H)
                new_state.append(cell_state)
            layer_input = outputs[0] if len(outputs) == 1 else torch.cat(outputs, dim=-1)
            if self.dropout > 0 and layer < self.num_layers - 1:
                layer_input = F.dropout(layer_input, self.dropout, self.training)
        return layer_input, tuple(new_state)

    def _scan(self, cell, gx: Tensor, state: CellState, dtype: torch.dtype,
              fns: pointwise.Pointwise) -> tuple[Tensor, CellState]:
        if self.cell_type == "lstm":
            h, c = state
            out, h, c = LSTMScan.apply(gx, h.to(gx.dtype), c.to(gx.dtype), cell.weight_hh, dtype, fns)
            return out, (h, c)
        if self.cell_type == "gru":
            out, h = GRUScan.apply(gx, state.to(gx.dtype), cell.weight_hh, cell.bias_hh, dtype, fns)
            return out, h
        out, h = RNNScan.apply(gx, state.to(gx.dtype), cell.weight_hh, dtype, self.nonlinearity == "relu", fns)
        return out, h
