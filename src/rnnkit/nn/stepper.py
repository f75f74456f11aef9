"""One token at a time, fast: the inference path for sampling.

``torch.nn.LSTM`` on a length-1 input takes a slow general path. Generation only
needs the last state, so this stepper runs the cells' own equations with two
shortcuts: the first layer's input projection is precomputed for every token in
the vocabulary (a table lookup instead of a matmul), and nothing is recorded for
autograd. The weights are a snapshot taken when the stepper is made.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from rnnkit.nn import pointwise
from rnnkit.nn.fused import FusedRecurrent
from rnnkit.nn.naming import layer_key
from rnnkit.nn.recurrent import Recurrent, State


def as_unrolled(module: Recurrent | FusedRecurrent) -> Recurrent:
    """The from-equation twin of a recurrent module, with the same weights."""
    if isinstance(module, Recurrent):
        return module
    with torch.random.fork_rng(devices=[]):  # building must not move the training RNG
        twin = Recurrent(module.cell_type, module.input_size, module.hidden_size, module.num_layers,
                         module.dropout, module.bidirectional, module.nonlinearity, module.reset)
    twin.load_state_dict(module.state_dict())
    return twin.to(next(module.parameters()).device).eval()


class Stepper:
    """``step(tokens (B,), state) -> (top hidden (B, H), state)`` over a snapshot of the weights.

    ``dtype`` is the matrix multiplies' precision: bf16 halves the bytes of weights read
    per token; the state, the gates and the first layer's table stay fp32 either way.
    ``product`` computes them (``decode.rows.rowwise_product`` for a server's batches).
    """

    def __init__(self, recurrent: Recurrent | FusedRecurrent, embedding: Tensor,
                 dtype: torch.dtype = torch.float32, product: Callable[[Tensor, Tensor], Tensor] = torch.mm) -> None:
        if recurrent.bidirectional:
            raise ValueError("a bidirectional network cannot generate one token at a time")
        unrolled = as_unrolled(recurrent)
        self.cells: list[nn.Module] = [unrolled.cells[layer_key(k, False)]
                                       for k in range(unrolled.num_layers)]
        self.dtype, self.product = dtype, product
        self.by_equations = recurrent.cell_type == "gru" and recurrent.reset != "after"  # Cho et al.'s GRU
        with torch.no_grad():
            self.first_layer_table = self.cells[0].project_input(embedding).float()  # (V, gates*H)
            # each cell's input projection is affine: keep its matrix and its value at zero
            self.input_weights = [cell.weight_ih.t().to(dtype) for cell in self.cells]
            self.input_biases = [cell.project_input(cell.weight_ih.new_zeros(1, cell.input_size))[0].float()
                                 for cell in self.cells]
            self.recurrent_weights = [cell.weight_hh.t().to(dtype) for cell in self.cells]
        self.relu = getattr(self.cells[0], "nonlinearity", "tanh") == "relu"

    def initial_state(self, batch: int) -> State:
        like = self.first_layer_table
        return tuple(cell.initial_state(batch, like) for cell in self.cells)

    @torch.no_grad()
    def step(self, tokens: Tensor, state: State | None) -> tuple[Tensor, State]:
        if state is None:
            state = self.initial_state(tokens.shape[0])
        new_state = []
        h = self.first_layer_table[tokens]  # layer 0's input projection, looked up
        for index, cell in enumerate(self.cells):
            gx = h if index == 0 else self.product(h.to(self.dtype), self.input_weights[index]).add(
                self.input_biases[index])  # a bf16 product plus an fp32 bias is fp32
            h, cell_state = self._update(index, cell, gx, state[index])
            new_state.append(cell_state)
        return h, tuple(new_state)

    def _update(self, index: int, cell: nn.Module, gx: Tensor, state) -> tuple[Tensor, object]:
        if self.by_equations:
            return cell.step(gx, state)
        h_prev = state[0] if isinstance(state, tuple) else state
        hh = self.product(h_prev.to(self.dtype), self.recurrent_weights[index])
        if isinstance(state, tuple):
            h, c = pointwise.lstm_update(*pointwise.lstm_gates(gx + hh), state[1])
            return h, (h, c)
        if cell.gates == 3:
            _, z, n, _ = pointwise.gru_gates(gx, hh + cell.bias_hh)
            h = pointwise.gru_update(z, n, h_prev)
            return h, h
        h = pointwise.rnn_forward(gx, hh, self.relu)
        return h, h
