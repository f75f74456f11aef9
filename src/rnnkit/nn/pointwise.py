"""Each cell's equations, written once: the element-wise half of every recurrent step.

``cells`` (the eager steps and ``gate_values``), ``scan`` (the compiled backend) and the
sampler's ``Stepper`` all call these; ``reference.py`` stays the independent NumPy oracle.

Each function reads the step's matrix product (fp32 or bf16) and does all of the
step's remaining work in fp32. Eager, each is a dozen small kernels that each pass
over the gates; under ``torch.compile`` each becomes one fused loop, which is what
makes the compiled backend competitive with the fused kernels.

Backward formulas, with ``pre`` the gate pre-activations and ``σ' = σ(1 - σ)``:
LSTM ``d_o = dh tanh(c)``, ``dc += dh o (1 - tanh²c)``, ``d_i = dc g``, ``d_g = dc i``,
``d_f = dc c_prev``, ``dc_prev = dc f``; GRU (``h' = n + z (h - n)``) ``d_n = dh (1 - z)``,
``d_z = dh (h - n)``, ``d_r = d_n (1 - n²) (W_hn h + b_hn)``.
"""

from __future__ import annotations

import functools

import torch
from torch import Tensor
from torch.nn import functional as F


def lstm_gates(pre: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The LSTM's gates from their pre-activations: i, f, o through σ, the candidate g through tanh."""
    i, f, g, o = pre.chunk(4, dim=-1)
    return torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)


def lstm_update(i: Tensor, f: Tensor, g: Tensor, o: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
    """``c' = f c + i g``, ``h' = o tanh(c')`` -> (h', c')."""
    c = f * c + i * g
    return o * torch.tanh(c), c


def lstm_forward(gx: Tensor, hh: Tensor, c: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """-> (h', c', the activated gates i, f, g, o side by side)."""
    i, f, g, o = lstm_gates(gx + hh)
    h, c = lstm_update(i, f, g, o, c)
    return h, c, torch.cat([i, f, g, o], dim=-1)


def lstm_backward(d_out: Tensor, d_h: Tensor, d_c: Tensor, acts: Tensor, c: Tensor,
                  c_prev: Tensor) -> tuple[Tensor, Tensor]:
    """-> (dL/d pre-activations, dL/dc_prev); ``d_out + d_h`` is dL/dh at this step."""
    i, f, g, o = acts.chunk(4, dim=-1)
    d_h = d_out + d_h
    tanh_c = torch.tanh(c)
    d_c = d_c + d_h * o * (1 - tanh_c * tanh_c)
    d_pre = torch.cat([d_c * g * i * (1 - i), d_c * c_prev * f * (1 - f), d_c * i * (1 - g * g),
                       d_h * tanh_c * o * (1 - o)], dim=-1)
    return d_pre, d_c * f


def gru_gates(gx: Tensor, hh: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Reset after the recurrent product (torch.nn's GRU): ``hh`` is ``W_hh h + b_hh`` -> (r, z, n, W_hn h + b_hn)."""
    x_r, x_z, x_n = gx.chunk(3, dim=-1)
    h_r, h_z, h_n = hh.chunk(3, dim=-1)
    r, z = torch.sigmoid(x_r + h_r), torch.sigmoid(x_z + h_z)
    return r, z, torch.tanh(x_n + r * h_n), h_n


def gru_gates_reset_before(gx: Tensor, h: Tensor, weight_hh: Tensor, bias_hh: Tensor,
                           ) -> tuple[Tensor, Tensor, Tensor]:
    """Cho et al.'s GRU, the reset applied to ``h`` before its product: a second, dependent matmul -> (r, z, n)."""
    hidden = h.shape[-1]
    x_r, x_z, x_n = gx.chunk(3, dim=-1)
    h_r, h_z = F.linear(h, weight_hh[:2 * hidden], bias_hh[:2 * hidden]).chunk(2, dim=-1)
    r, z = torch.sigmoid(x_r + h_r), torch.sigmoid(x_z + h_z)
    return r, z, torch.tanh(x_n + F.linear(r * h, weight_hh[2 * hidden:], bias_hh[2 * hidden:]))


def gru_update(z: Tensor, n: Tensor, h: Tensor) -> Tensor:
    """``h' = (1 - z) n + z h``, written as ``n + z (h - n)``."""
    return n + z * (h - n)


def gru_forward(gx: Tensor, hh: Tensor, bias_hh: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
    """-> (h', [r, z, n, W_hn h + b_hn] side by side for the backward pass)."""
    r, z, n, h_n = gru_gates(gx, hh + bias_hh)
    return gru_update(z, n, h), torch.cat([r, z, n, h_n], dim=-1)


def gru_backward(d_out: Tensor, d_h: Tensor, d_direct: Tensor, saved: Tensor,
                 h_prev: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """-> (dL/d input pre-activations, dL/d recurrent pre-activations, dL/dh_prev outside W_hh)."""
    r, z, n, h_n = saved.chunk(4, dim=-1)
    d_h = d_out + d_h + d_direct
    d_pn = d_h * (1 - z) * (1 - n * n)
    d_pr = d_pn * h_n * r * (1 - r)
    d_pz = d_h * (h_prev - n) * z * (1 - z)
    return torch.cat([d_pr, d_pz, d_pn], dim=-1), torch.cat([d_pr, d_pz, d_pn * r], dim=-1), d_h * z


def rnn_forward(gx: Tensor, hh: Tensor, relu: bool) -> Tensor:
    pre = gx + hh
    return torch.relu(pre) if relu else torch.tanh(pre)


def rnn_backward(d_out: Tensor, d_h: Tensor, h: Tensor, relu: bool) -> Tensor:
    d_h = d_out + d_h
    return d_h * (h > 0) if relu else d_h * (1 - h * h)


class Pointwise:
    """The six step functions, eager or each compiled into one fused kernel."""

    def __init__(self, compiled: bool) -> None:
        # dynamic=None: a second shape compiles a shape-generic kernel instead of one per shape;
        # no fullgraph, so should Dynamo ever give up on a function it runs eager instead of failing
        wrap = functools.partial(torch.compile, dynamic=None) if compiled else _same
        self.lstm_forward, self.lstm_backward = wrap(lstm_forward), wrap(lstm_backward)
        self.gru_forward, self.gru_backward = wrap(gru_forward), wrap(gru_backward)
        self.rnn_forward, self.rnn_backward = wrap(rnn_forward), wrap(rnn_backward)


def _same(fn):
    return fn


EAGER = Pointwise(compiled=False)


@functools.cache
def compiled_pointwise() -> Pointwise:
    """One shared set of compiled functions (compiled lazily, per shape, on first call)."""
    return Pointwise(compiled=True)


@functools.cache
def compiler_works() -> bool:
    """Whether ``torch.compile`` can build CPU kernels here (it needs a C++ compiler)."""
    try:
        probe = torch.compile(rnn_forward, dynamic=False, fullgraph=True)  # fullgraph: fail loudly here
        probe(torch.zeros(1, 2), torch.zeros(1, 2), False)
        return True
    except Exception:  # any failure to build means: not here
        return False
