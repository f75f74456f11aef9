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

from rnnkit.nn import pointwise
from rnnkit.nn.cells import CellState
from rnnkit.nn.recurrent import Recurrent
from rnnkit.nn.scan import GRUScan, LSTMScan, RNNScan


class CompiledRecurrent(Recurrent):
    """``Recurrent`` with each direction of each layer run by a whole-sequence ``scan``
    (layers, directions and dropout between them are ``Recurrent``'s own)."""

    def __init__(self, *args, fuse_steps: bool = True, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fuse_steps = fuse_steps  # False: the same scan with eager element-wise steps

    def _run_direction(self, cell, x: Tensor, state: CellState, reverse: bool,
                       valid: Tensor | None) -> tuple[Tensor, CellState]:
        if valid is not None or (self.cell_type == "gru" and self.reset != "after"):
            return super()._run_direction(cell, x, state, reverse, valid)
        device = x.device.type
        base = cell.weight_hh.dtype  # the state's and the gates' dtype
        dtype = torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else base
        fns = pointwise.compiled_pointwise() if self.fuse_steps and pointwise.compiler_works() else pointwise.EAGER
        gx = cell.project_input(x).to(base).transpose(0, 1)  # (T, B, G*H): all steps in one matmul
        if reverse:
            gx = gx.flip(0)
        with torch.autocast(device, enabled=False):
            out, state = self._scan(cell, gx.contiguous(), state, dtype, fns)
        return (out.flip(0) if reverse else out).transpose(0, 1), state  # (B, T, H)

    def _scan(self, cell, gx: Tensor, state: CellState, dtype: torch.dtype,
              fns: pointwise.Pointwise) -> tuple[Tensor, CellState]:
        if self.cell_type == "lstm":
            h, c = state
            out, h, c = LSTMScan.apply(gx, h.to(gx.dtype), c.to(gx.dtype), cell.weight_hh, dtype, fns)
            return out, (h, c)
        if self.cell_type == "gru":
            return GRUScan.apply(gx, state.to(gx.dtype), cell.weight_hh, cell.bias_hh, dtype, fns)
        return RNNScan.apply(gx, state.to(gx.dtype), cell.weight_hh, dtype, self.nonlinearity == "relu", fns)
