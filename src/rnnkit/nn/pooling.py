"""Many to one: a padded sequence of outputs -> one vector per example, padding ignored.

``last`` takes each direction's final state: the forward half at the row's true
last step, the reverse half at step 0 (where the backward pass ends). ``mean`` and
``max`` run over the valid steps only, so a row gives the same vector alone and
in a padded batch.
"""

from __future__ import annotations

import torch
from torch import Tensor

POOLINGS = ("last", "mean", "max")


def pool(out: Tensor, lengths: Tensor, how: str, directions: int = 1) -> Tensor:
    """``out (B, T, D*H)``, ``lengths (B,)`` -> ``(B, D*H)``."""
    batch, steps, width = out.shape
    lengths = lengths.to(out.device)
    valid = (torch.arange(steps, device=out.device)[None, :] < lengths[:, None])[..., None]  # (B, T, 1)
    if how == "last":
        last = out[torch.arange(batch, device=out.device), lengths - 1]  # (B, D*H)
        if directions == 1:
            return last
        half = width // 2
        return torch.cat([last[:, :half], out[:, 0, half:]], dim=-1)
    if how == "mean":
        return (out * valid).sum(dim=1) / lengths[:, None].to(out.dtype)
    if how == "max":
        return out.masked_fill(~valid, float("-inf")).amax(dim=1)
    raise ValueError(f"unknown pooling {how!r}; choose {', '.join(POOLINGS)}")
