"""Every neuron's value at every character: the raw material of the pictures of what neurons do.

The states are read from the same stepper that samples text, one token at a time,
so what a picture shows is exactly the state the model carries (no hooks that
could drift from the forward pass). For each layer the hidden state ``h`` is
kept, and for an LSTM the cell state ``c`` too.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from rnnkit.nn import FusedRecurrent, Recurrent, Stepper


@torch.no_grad()
def activations(recurrent: Recurrent | FusedRecurrent, embedding: Tensor, ids: np.ndarray) -> dict[str, np.ndarray]:
    """``{"h0": (T, H), "c0": (T, H), "h1": ...}``: the state after reading each of ``ids``."""
    stepper = Stepper(recurrent, embedding.detach())
    layers = recurrent.num_layers
    found: dict[str, list[np.ndarray]] = {f"h{k}": [] for k in range(layers)}
    if recurrent.cell_type == "lstm":
        found.update({f"c{k}": [] for k in range(layers)})
    device = embedding.device
    state = None
    for token in np.asarray(ids, dtype=np.int64):
        _, state = stepper.step(torch.tensor([int(token)], device=device), state)
        for layer, layer_state in enumerate(state):
            if isinstance(layer_state, tuple):
                found[f"h{layer}"].append(layer_state[0][0].float().cpu().numpy())
                found[f"c{layer}"].append(layer_state[1][0].float().cpu().numpy())
            else:
                found[f"h{layer}"].append(layer_state[0].float().cpu().numpy())
    return {name: np.stack(rows) if rows else np.zeros((0, recurrent.hidden_size), np.float32)
            for name, rows in found.items()}
