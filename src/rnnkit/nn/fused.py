"""The same interface as ``Recurrent`` over ``torch.nn.RNN/LSTM/GRU``.

These call oneDNN on the CPU and cuDNN on the GPU: a whole sequence in one kernel.
State dicts use the same names as the unrolled path, so weights move freely
between the two, and the initialisation is the same.
"""

from __future__ import annotations

import contextlib
import functools

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from rnnkit.nn.cells import init_recurrent_weights
from rnnkit.nn.naming import canonical_to_cell, use_canonical_names
from rnnkit.nn.recurrent import RecurrentShape, State


class FusedRecurrent(RecurrentShape):
    """``forward(x (B, T, I), state=None) -> (out (B, T, D*H), state)`` on fused kernels."""

    def __init__(self, cell: str, input_size: int, hidden_size: int, num_layers: int = 1,
                 dropout: float = 0.0, bidirectional: bool = False, nonlinearity: str = "tanh",
                 reset: str = "after", weight_drop: float = 0.0, locked_dropout: float = 0.0) -> None:
        super().__init__(cell, input_size, hidden_size, num_layers, dropout, bidirectional, nonlinearity, reset,
                         weight_drop, locked_dropout)
        if cell == "gru" and reset != "after":
            raise ValueError("the fused GRU applies the reset gate after the recurrent matmul; "
                             "use reset='after' or the eager backend")
        kwargs = dict(input_size=input_size, hidden_size=hidden_size, num_layers=num_layers,
                      dropout=dropout if num_layers > 1 and not locked_dropout else 0.0,  # only between layers
                      bidirectional=bidirectional, batch_first=True)
        if cell == "rnn":
            self.rnn: nn.RNNBase = nn.RNN(nonlinearity=nonlinearity, **kwargs)
        elif cell == "lstm":
            self.rnn = nn.LSTM(**kwargs)
        elif cell == "gru":
            self.rnn = nn.GRU(**kwargs)
        else:
            raise ValueError(f"unknown cell {cell!r}; choose rnn, lstm or gru")
        gates = {"rnn": 1, "lstm": 4, "gru": 3}[cell]
        for suffix in [""] + (["_reverse"] if bidirectional else []):
            for layer in range(num_layers):
                tensors = [getattr(self.rnn, f"{p}_l{layer}{suffix}")
                           for p in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
                init_recurrent_weights(*tensors, gates=gates, forget_gate=1 if cell == "lstm" else None)
        use_canonical_names(
            self,
            lambda key: key[4:] if key.startswith("rnn.") else None,
            lambda key: f"rnn.{key}" if canonical_to_cell(key) else None,
        )

    def run(self, x: Tensor, state: State | None = None,
            lengths: Tensor | None = None) -> tuple[Tensor, State]:
        """With ``lengths (B,)`` the batch runs packed: padding is never computed, outputs there are zero."""
        hx = None if state is None else _stack_state(state, self.cell_type)
        with _kernel_precision(x, self.cell_type) as x:
            if self.training and self.locked_dropout > 0 and self.num_layers > 1:
                out, hn = self._layer_by_layer(x, hx, lengths)
            else:
                out, hn = _call(self.rnn, x, hx, lengths)
            return out, _unstack_state(hn, self.cell_type)

    def _layer_by_layer(self, x: Tensor, hx, lengths: Tensor | None):
        """One kernel call per layer, so a locked mask can go between them (the stacked kernel's own
        dropout draws a new mask at every step). Each call runs a one-layer twin over this stack's
        own tensors of that layer, so gradients and dropped weights reach them as usual."""
        directions, finals = self.directions, []
        for layer in range(self.num_layers):
            twin = self._layer_twin(layer)
            own = {f"rnn.{name}_l0{suffix}": getattr(self.rnn, f"{name}_l{layer}{suffix}")
                   for suffix in ("", "_reverse")[:directions]
                   for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}
            rows = slice(layer * directions, (layer + 1) * directions)
            layer_hx = None if hx is None else (
                tuple(t[rows] for t in hx) if isinstance(hx, tuple) else hx[rows])
            x, hn = torch.func.functional_call(twin, own, (x, layer_hx, lengths), strict=True)
            finals.append(hn)
            if layer < self.num_layers - 1:
                x = self.between_layers(x)
        if isinstance(finals[0], tuple):
            return x, tuple(torch.cat(parts) for parts in zip(*finals, strict=True))
        return x, torch.cat(finals)

    def _layer_twin(self, layer: int) -> nn.Module:
        """A weightless-in-effect one-layer module of layer ``layer``'s shape (kept out of the state dict)."""
        twins = self.__dict__.setdefault("_twins", {})
        if layer not in twins:
            width = self.input_size if layer == 0 else self.hidden_size * self.directions
            with torch.random.fork_rng(devices=[]):
                twins[layer] = _OneLayer(type(self.rnn), width, self.hidden_size, self.bidirectional,
                                         self.nonlinearity)
        return twins[layer]


class _OneLayer(nn.Module):
    """One fused layer called with ``(x, hx, lengths)``, packing when there are lengths."""

    def __init__(self, kind: type, input_size: int, hidden_size: int, bidirectional: bool,
                 nonlinearity: str) -> None:
        super().__init__()
        extra = {"nonlinearity": nonlinearity} if kind is nn.RNN else {}
        self.rnn = kind(input_size, hidden_size, bidirectional=bidirectional, batch_first=True, **extra)

    def forward(self, x: Tensor, hx, lengths: Tensor | None):
        return _call(self.rnn, x, hx, lengths)


def _call(rnn: nn.RNNBase, x: Tensor, hx, lengths: Tensor | None):
    """torch.nn's kernel on a whole padded batch, packed when ``lengths`` are given."""
    if lengths is None:
        return rnn(x, hx)
    packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
    packed_out, hn = rnn(packed, hx)
    out, _ = pad_packed_sequence(packed_out, batch_first=True, total_length=x.shape[1])
    return out, hn


def _stack_state(state: State, cell: str) -> Tensor | tuple[Tensor, Tensor]:
    """Per-layer tuple -> torch.nn's (L*D, B, H) tensors."""
    if cell == "lstm":
        return (torch.stack([s[0] for s in state]), torch.stack([s[1] for s in state]))
    return torch.stack(list(state))


def _unstack_state(hn: Tensor | tuple[Tensor, Tensor], cell: str) -> State:
    if cell == "lstm":
        h, c = hn
        return tuple(zip(h.unbind(0), c.unbind(0), strict=True))
    return tuple(hn.unbind(0))


@functools.cache
def bf16_kernel_works(cell: str) -> bool:
    """Whether this CPU's oneDNN runs ``cell``'s fused kernel in bf16, forward and backward.

    Tried once per process on a tiny layer: oneDNN builds on CPUs without AVX-512 bf16
    (AMD Zen 3, for one) refuse the bf16 LSTM primitive with a RuntimeError."""
    layer = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[cell](4, 4, batch_first=True)
    try:
        with torch.random.fork_rng(devices=[]), torch.autocast("cpu", dtype=torch.bfloat16):
            out, _ = layer(torch.zeros(1, 2, 4))
        out.float().sum().backward()
        return True
    except RuntimeError:
        return False


@contextlib.contextmanager
def _kernel_precision(x: Tensor, cell: str):
    """Under CPU bf16 autocast where the bf16 kernel is missing, run this kernel in fp32 (the rest of
    the model keeps bf16); elsewhere change nothing."""
    if x.device.type != "cpu" or not torch.is_autocast_enabled("cpu") or bf16_kernel_works(cell):
        yield x
        return
    with torch.autocast("cpu", enabled=False):
        yield x.float()
