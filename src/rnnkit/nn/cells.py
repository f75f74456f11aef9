"""Recurrent cells written from their equations.

Parameter names, shapes and gate order follow ``torch.nn`` (``weight_ih``,
``weight_hh``, ``bias_ih``, ``bias_hh``; LSTM gates i, f, g, o; GRU gates r, z, n)
so weights copy both ways between these cells, ``torch.nn.*Cell`` and the fused
``torch.nn.RNN/LSTM/GRU`` kernels.

Every cell splits its work in two so that a sequence can be unrolled cheaply:
``project_input`` applies the input weights to all time steps in one matrix
multiply, and ``step`` applies the recurrence to one time step. ``forward`` does
both for a single step and follows the package contract ``(x, state) -> (out, state)``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from rnnkit.nn import pointwise as pw

LSTMState = tuple[Tensor, Tensor]
CellState = Tensor | LSTMState


def init_recurrent_weights(
    weight_ih: Tensor, weight_hh: Tensor, bias_ih: Tensor, bias_hh: Tensor,
    gates: int, forget_gate: int | None = None,
) -> None:
    """Xavier input weights, orthogonal recurrent weights (per gate), zero biases.

    Orthogonal recurrent matrices keep the norm of the back-propagated signal
    from growing or shrinking at initialisation; a forget-gate bias of 1 makes
    a fresh LSTM remember by default (Jozefowicz et al. 2015).
    """
    hidden = weight_hh.shape[1]
    with torch.no_grad():
        for gate in range(gates):
            rows = slice(gate * hidden, (gate + 1) * hidden)
            nn.init.xavier_uniform_(weight_ih[rows])
            nn.init.orthogonal_(weight_hh[rows])
        bias_ih.zero_()
        bias_hh.zero_()
        if forget_gate is not None:
            bias_ih[forget_gate * hidden:(forget_gate + 1) * hidden] = 1.0


def _project_with_both_biases(self, x: Tensor) -> Tensor:
    """``W_ih x + b_ih + b_hh``: where both biases enter the same sum, adding them to
    the input projection (done once for all steps) saves an addition per step."""
    return F.linear(x, self.weight_ih, self.bias_ih + self.bias_hh)


class _Cell(nn.Module):
    """Parameters and shared plumbing; subclasses define ``gates`` and ``step``."""

    gates = 1
    forget_gate: int | None = None

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        width = self.gates * hidden_size
        self.weight_ih = nn.Parameter(torch.empty(width, input_size))
        self.weight_hh = nn.Parameter(torch.empty(width, hidden_size))
        self.bias_ih = nn.Parameter(torch.empty(width))
        self.bias_hh = nn.Parameter(torch.empty(width))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init_recurrent_weights(
            self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh,
            self.gates, self.forget_gate,
        )

    def project_input(self, x: Tensor) -> Tensor:
        """``W_ih x + b_ih`` for any leading shape: (..., I) -> (..., gates*H)."""
        return F.linear(x, self.weight_ih, self.bias_ih)

    def initial_state(self, batch: int, like: Tensor) -> CellState:
        return like.new_zeros(batch, self.hidden_size)

    def step(self, gx: Tensor, state: CellState) -> tuple[Tensor, CellState]:
        raise NotImplementedError

    def gate_values(self, gx: Tensor, h: Tensor) -> dict[str, Tensor]:
        """The gates' and the candidate's values for projected inputs ``gx`` and previous
        hidden states ``h``, any number of rows at once (a cell without gates has none).
        ``step`` inlines the same sums for speed; a test rebuilds the states from these."""
        return {}

    def forward(self, x: Tensor, state: CellState | None = None) -> tuple[Tensor, CellState]:
        """One time step: x (B, I) -> (h (B, H), new state)."""
        if state is None:
            state = self.initial_state(x.shape[0], x)
        return self.step(self.project_input(x), state)


class RNNCell(_Cell):
    """Elman RNN: ``h' = act(W_ih x + b_ih + W_hh h + b_hh)``, act = tanh or relu."""

    def __init__(self, input_size: int, hidden_size: int, nonlinearity: str = "tanh") -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity must be 'tanh' or 'relu', not {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size)

    project_input = _project_with_both_biases

    def step(self, gx: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        h = pw.rnn_forward(gx, torch.mm(state, self.weight_hh.t()), self.nonlinearity == "relu")
        return h, h


class LSTMCell(_Cell):
    """Long short-term memory (Hochreiter & Schmidhuber 1997, with a forget gate).

    ::

        i = σ(W_ii x + b_ii + W_hi h + b_hi)      input gate
        f = σ(W_if x + b_if + W_hf h + b_hf)      forget gate
        g = tanh(W_ig x + b_ig + W_hg h + b_hg)   candidate
        o = σ(W_io x + b_io + W_ho h + b_ho)      output gate
        c' = f ⊙ c + i ⊙ g
        h' = o ⊙ tanh(c')

    The additive update of ``c`` is the path along which gradients survive.
    """

    gates = 4
    forget_gate = 1

    def initial_state(self, batch: int, like: Tensor) -> LSTMState:
        zeros = like.new_zeros(batch, self.hidden_size)
        return zeros, zeros

    project_input = _project_with_both_biases

    def step(self, gx: Tensor, state: LSTMState) -> tuple[Tensor, LSTMState]:
        h, c = state
        i, f, g, o = pw.lstm_gates(torch.addmm(gx, h, self.weight_hh.t()))  # gx holds W_ih x + b_ih + b_hh
        h, c = pw.lstm_update(i, f, g, o, c)
        return h, (h, c)

    def gate_values(self, gx: Tensor, h: Tensor) -> dict[str, Tensor]:
        i, f, g, o = pw.lstm_gates(torch.addmm(gx, h, self.weight_hh.t()))
        return {"input": i, "forget": f, "output": o, "candidate": g}


class GRUCell(_Cell):
    """Gated recurrent unit (Cho et al. 2014).

    ::

        r = σ(W_ir x + b_ir + W_hr h + b_hr)                 reset gate
        z = σ(W_iz x + b_iz + W_hz h + b_hz)                 update gate
        n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))        reset="after"  (torch.nn.GRU, cuDNN)
        n = tanh(W_in x + b_in + W_hn (r ⊙ h) + b_hn)        reset="before" (the paper)
        h' = (1 - z) ⊙ n + z ⊙ h

    ``reset="after"`` lets the recurrent product for all three gates be one matrix
    multiply, which is why the fused kernels use it; ``reset="before"`` is Cho et
    al.'s form and needs a second, dependent multiply, so it runs unrolled only.
    """

    gates = 3

    def __init__(self, input_size: int, hidden_size: int, reset: str = "after") -> None:
        if reset not in ("after", "before"):
            raise ValueError(f"reset must be 'after' or 'before', not {reset!r}")
        self.reset = reset
        super().__init__(input_size, hidden_size)

    def _gates(self, gx: Tensor, h: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        if self.reset == "after":
            return pw.gru_gates(gx, F.linear(h, self.weight_hh, self.bias_hh))[:3]
        return pw.gru_gates_reset_before(gx, h, self.weight_hh, self.bias_hh)

    def step(self, gx: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        _, z, n = self._gates(gx, state)
        h = pw.gru_update(z, n, state)
        return h, h

    def gate_values(self, gx: Tensor, h: Tensor) -> dict[str, Tensor]:
        r, z, n = self._gates(gx, h)
        return {"reset": r, "update": z, "candidate": n}


def make_cell(cell: str, input_size: int, hidden_size: int,
              nonlinearity: str = "tanh", reset: str = "after") -> _Cell:
    """Build a cell by name: 'rnn', 'lstm' or 'gru'."""
    if cell == "rnn":
        return RNNCell(input_size, hidden_size, nonlinearity)
    if cell == "lstm":
        return LSTMCell(input_size, hidden_size)
    if cell == "gru":
        return GRUCell(input_size, hidden_size, reset)
    raise ValueError(f"unknown cell {cell!r}; choose rnn, lstm or gru")

