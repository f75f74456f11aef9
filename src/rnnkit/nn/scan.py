"""Whole-sequence recurrences with hand-written backward passes: the compiled backend's core.

Autograd through an unrolled loop records every step's matrix multiplies and, going
back, computes the recurrent weights' gradient as T small products. These functions
do what the fused kernels do instead: the forward loop keeps only the gate values,
the backward loop carries ``dh`` (and ``dc``) through the recurrent matrix, and the
weight gradient is one large matrix multiply over all steps at the end.

Under bf16 every matrix multiply runs in bf16 while the gates, the cell state and the
carried hidden state stay fp32: rounding never accumulates along the sequence. The
per-step element-wise work is fused into one kernel by ``torch.compile`` when a
compiler is available (``Pointwise``), eager otherwise; the results are the same.

Shapes are time-major inside: ``gx (T, B, G*H)``, ``out (T, B, H)``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from rnnkit.nn import pointwise as pw


def _mm(a: Tensor, b: Tensor, dtype: torch.dtype) -> Tensor:
    """``a @ b`` in ``dtype`` (``b`` already is); the fused element-wise step that reads
    the product adds it to fp32 values, so the rounding happens once, here."""
    return torch.mm(a.to(dtype), b)


def _weight_grad(d_pre: Tensor, inputs: Tensor, dtype: torch.dtype) -> Tensor:
    """``sum_t d_pre_t^T inputs_t`` as one (G*H, T*B) x (T*B, H) product, in the weights' dtype."""
    flat_d, flat_in = d_pre.flatten(0, 1), inputs.flatten(0, 1)
    return _mm(flat_d.t(), flat_in.to(dtype), dtype).to(inputs.dtype)


class LSTMScan(torch.autograd.Function):
    """``(gx, h0, c0, W_hh) -> (out, h_T, c_T)``; gx holds ``W_ih x + b_ih + b_hh``."""

    @staticmethod
    def forward(ctx, gx: Tensor, h0: Tensor, c0: Tensor, weight_hh: Tensor, dtype: torch.dtype,
                fns: pw.Pointwise) -> tuple[Tensor, Tensor, Tensor]:
        steps = gx.shape[0]
        w_t = weight_hh.t().to(dtype)  # (H, 4H)
        acts = torch.empty_like(gx)
        out = gx.new_empty(steps, *h0.shape)
        cells = gx.new_empty(steps, *h0.shape)
        h, c = h0, c0
        for t in range(steps):
            h, c, acts[t] = fns.lstm_forward(gx[t], _mm(h, w_t, dtype), c)
            out[t], cells[t] = h, c
        ctx.save_for_backward(h0, c0, weight_hh, acts, out, cells)
        ctx.dtype, ctx.fns = dtype, fns
        return out, h, c

    @staticmethod
    def backward(ctx, d_out: Tensor, d_hT: Tensor | None, d_cT: Tensor | None):
        h0, c0, weight_hh, acts, out, cells = ctx.saved_tensors
        dtype, fns = ctx.dtype, ctx.fns
        w = weight_hh.to(dtype)  # (4H, H)
        d_pre = torch.empty_like(acts)
        d_h = (d_hT if d_hT is not None else torch.zeros_like(h0)).to(dtype)  # one dtype: one kernel
        d_c = d_cT if d_cT is not None else torch.zeros_like(c0)
        for t in reversed(range(acts.shape[0])):
            c_prev = cells[t - 1] if t > 0 else c0
            d_pre[t], d_c = fns.lstm_backward(d_out[t], d_h, d_c, acts[t], cells[t], c_prev)
            d_h = _mm(d_pre[t], w, dtype)
        h_prev = torch.cat([h0[None], out[:-1]])
        d_weight = _weight_grad(d_pre, h_prev, dtype)
        return d_pre, d_h.to(h0.dtype), d_c, d_weight, None, None


class GRUScan(torch.autograd.Function):
    """``(gx, h0, W_hh, b_hh) -> (out, h_T)``, reset after the recurrent product (torch.nn's GRU)."""

    @staticmethod
    def forward(ctx, gx: Tensor, h0: Tensor, weight_hh: Tensor, bias_hh: Tensor, dtype: torch.dtype,
                fns: pw.Pointwise) -> tuple[Tensor, Tensor]:
        steps = gx.shape[0]
        w_t = weight_hh.t().to(dtype)  # (H, 3H)
        saved = gx.new_empty(steps, h0.shape[0], 4 * h0.shape[1])  # r, z, n and W_hn h + b_hn
        out = gx.new_empty(steps, *h0.shape)
        h = h0
        for t in range(steps):
            h, saved[t] = fns.gru_forward(gx[t], _mm(h, w_t, dtype), bias_hh, h)
            out[t] = h
        ctx.save_for_backward(h0, weight_hh, saved, out)
        ctx.dtype, ctx.fns = dtype, fns
        return out, h

    @staticmethod
    def backward(ctx, d_out: Tensor, d_hT: Tensor | None):
        h0, weight_hh, saved, out = ctx.saved_tensors
        dtype, fns = ctx.dtype, ctx.fns
        w = weight_hh.to(dtype)  # (3H, H)
        d_gx = torch.empty(*saved.shape[:2], 3 * h0.shape[1], dtype=saved.dtype, device=saved.device)
        d_gh = torch.empty_like(d_gx)
        d_h = (d_hT if d_hT is not None else torch.zeros_like(h0)).to(dtype)  # one dtype: one kernel
        d_direct = torch.zeros_like(h0)  # the part of dL/dh that skips the recurrent matrix
        for t in reversed(range(saved.shape[0])):
            h_prev = out[t - 1] if t > 0 else h0
            d_gx[t], d_gh[t], d_direct = fns.gru_backward(d_out[t], d_h, d_direct, saved[t], h_prev)
            d_h = _mm(d_gh[t], w, dtype)
        h_prev = torch.cat([h0[None], out[:-1]])
        d_weight = _weight_grad(d_gh, h_prev, dtype)
        return d_gx, d_direct + d_h.to(h0.dtype), d_weight, d_gh.sum((0, 1)), None, None


class RNNScan(torch.autograd.Function):
    """``(gx, h0, W_hh) -> (out, h_T)`` for the Elman RNN; gx holds both biases."""

    @staticmethod
    def forward(ctx, gx: Tensor, h0: Tensor, weight_hh: Tensor, dtype: torch.dtype, relu: bool,
                fns: pw.Pointwise) -> tuple[Tensor, Tensor]:
        w_t = weight_hh.t().to(dtype)
        out = torch.empty_like(gx)
        h = h0
        for t in range(gx.shape[0]):
            h = fns.rnn_forward(gx[t], _mm(h, w_t, dtype), relu)
            out[t] = h
        ctx.save_for_backward(h0, weight_hh, out)
        ctx.dtype, ctx.relu, ctx.fns = dtype, relu, fns
        return out, h

    @staticmethod
    def backward(ctx, d_out: Tensor, d_hT: Tensor | None):
        h0, weight_hh, out = ctx.saved_tensors
        dtype, fns = ctx.dtype, ctx.fns
        w = weight_hh.to(dtype)
        d_pre = torch.empty_like(out)
        d_h = (d_hT if d_hT is not None else torch.zeros_like(h0)).to(dtype)  # one dtype: one kernel
        for t in reversed(range(out.shape[0])):
            d_pre[t] = fns.rnn_backward(d_out[t], d_h, out[t], ctx.relu)
            d_h = _mm(d_pre[t], w, dtype)
        h_prev = torch.cat([h0[None], out[:-1]])
        return d_pre, d_h.to(h0.dtype), _weight_grad(d_pre, h_prev, dtype), None, None, None
