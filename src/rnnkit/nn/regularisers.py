"""AWD-LSTM's regularisers (Merity, Keskar & Socher 2018), on every backend.

- Weight drop: DropConnect on the hidden-to-hidden matrices, one mask per batch. The
  dropped matrices are passed to the stack through ``torch.func.functional_call``, so the
  fused kernels run them as they are and the stored weights never change.
- Locked (variational) dropout: one mask per sequence and feature, the same at every
  time step, so a unit is either there for the whole chunk or not at all.
- Embedding dropout: whole token types vanish from a batch (all their occurrences), the
  rest are scaled up, instead of single coordinates of single positions.
- AR and TAR: L2 penalties on the output activations and on their change between steps.

Each is the identity at 0 and draws no random numbers then, so a run that sets none
of them is bit for bit the run it was before they existed.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F


def locked_dropout(x: Tensor, p: float, training: bool) -> Tensor:
    """``x (B, T, F)`` times one scaled Bernoulli mask per row and feature, shared by every step."""
    if not training or p <= 0:
        return x
    keep = x.new_empty(x.shape[0], 1, x.shape[2]).bernoulli_(1 - p).div_(1 - p)
    return x * keep


class LockedDropout(nn.Module):
    """``locked_dropout`` as a layer."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        return locked_dropout(x, self.p, self.training)


def embedding_dropout(embedding: nn.Embedding, ids: Tensor, p: float, training: bool) -> Tensor:
    """The embedding of ``ids`` with whole rows of the table dropped (each kept row scaled by 1/(1-p))."""
    if not training or p <= 0:
        return embedding(ids)
    weight = embedding.weight
    keep = weight.new_empty(weight.shape[0], 1).bernoulli_(1 - p).div_(1 - p)
    return F.embedding(ids, weight * keep, embedding.padding_idx)


def hidden_to_hidden(module: nn.Module) -> list[str]:
    """The names of ``module``'s recurrent (hidden-to-hidden) matrices, in registration order."""
    return [name for name, _ in module.named_parameters() if name.rpartition(".")[2].startswith("weight_hh")]


def dropped_hidden_weights(module: nn.Module, p: float) -> dict[str, Tensor]:
    """Each recurrent matrix of ``module`` with DropConnect applied: one fresh mask per matrix."""
    parameters = dict(module.named_parameters())
    return {name: dropconnect(parameters[name], p) for name in hidden_to_hidden(module)}


def dropconnect(weight: Tensor, p: float) -> Tensor:
    """``weight`` with each entry zeroed with chance ``p``, the rest scaled by 1/(1-p). Drawn with
    ``rand < keep`` rather than ``F.dropout``: on CPU its Bernoulli draw took 24 ms for a 768-unit
    LSTM's 2.4M-entry matrix against 6 ms, a sixth of the training step (docs/tuning.md)."""
    keep = 1.0 - p
    scale = (torch.rand_like(weight, dtype=torch.float32) < keep).to(weight.dtype).mul_(1.0 / keep)
    return weight * scale


def activation_penalty(raw: Tensor, dropped: Tensor, ar: float, tar: float) -> Tensor:
    """``ar * mean(dropped^2) + tar * mean((raw_t+1 - raw_t)^2)`` over the last layer's outputs (B, T, H):
    AR on the outputs as the head reads them, TAR on the undropped ones (as Merity et al. do)."""
    penalty = raw.new_zeros((), dtype=torch.float32)
    if ar > 0:
        penalty = penalty + ar * dropped.float().pow(2).mean()
    if tar > 0 and raw.shape[1] > 1:
        penalty = penalty + tar * (raw[:, 1:] - raw[:, :-1]).float().pow(2).mean()
    return penalty
