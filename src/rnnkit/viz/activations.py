"""Every neuron's value at every character: the raw material of the pictures of what neurons do.

The states are read from the same stepper that samples text, one token at a time,
so what a picture shows is exactly the state the model carries (no hooks that
could drift from the forward pass). For each layer the hidden state ``h`` is
kept, and for an LSTM the cell state ``c`` too.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor

from rnnkit.nn import FusedRecurrent, Recurrent, Stepper


def neuron_name(state: str, unit: int) -> str:
    """``"h0:137"``: unit 137 of layer 0's hidden state (``c`` for an LSTM's cell state)."""
    return f"{state}:{unit}"


@torch.no_grad()
def activations(recurrent: Recurrent | FusedRecurrent, embedding: Tensor, ids: np.ndarray,
                progress: Callable[[int], None] | None = None) -> dict[str, np.ndarray]:
    """``{"h0": (T, H), "c0": (T, H), "h1": ...}``: the state after reading each of ``ids``.

    ``progress(n)`` is called every 1,024 tokens with the number read so far.
    """
    stepper = Stepper(recurrent, embedding.detach())
    layers, hidden, steps = recurrent.num_layers, recurrent.hidden_size, len(ids)
    lstm = recurrent.cell_type == "lstm"
    device = embedding.device
    names = [f"h{k}" for k in range(layers)] + ([f"c{k}" for k in range(layers)] if lstm else [])
    found = {name: torch.empty(steps, hidden, device=device) for name in names}
    tokens = torch.as_tensor(np.asarray(ids, dtype=np.int64), device=device)
    state = None
    for t in range(steps):
        _, state = stepper.step(tokens[t:t + 1], state)
        for layer, layer_state in enumerate(state):
            if lstm:
                found[f"h{layer}"][t] = layer_state[0][0]
                found[f"c{layer}"][t] = layer_state[1][0]
            else:
                found[f"h{layer}"][t] = layer_state[0]
        if progress is not None and (t + 1) % 1024 == 0:
            progress(t + 1)
    return {name: values.float().cpu().numpy() for name, values in found.items()}
