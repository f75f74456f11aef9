"""Cross-entropy over a whole token stream, with the state carried.

The stream is cut into S contiguous pieces that overlap by one token, scored side
by side in T-long chunks with the hidden state carried within each piece. Every
token after the first is predicted exactly once, so the total is exact for any S;
a larger S is faster, and each piece starts from a zero state.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F


@torch.no_grad()
def stream_nats(model, ids: np.ndarray, streams: int = 16, seq_len: int = 256,
                device: torch.device | str = "cpu", world=None) -> tuple[float, int]:
    """(total nats, tokens predicted) for ``model(ids (B, T), state) -> (logits, state)``. With a
    ``world`` of several ranks (``train.distributed``) each scores its share of the streams and the
    totals are summed, which is the whole stream's score."""
    predictions = len(ids) - 1
    if predictions < 1:
        return 0.0, 0
    streams = max(1, min(streams, predictions))
    per_stream = -(-predictions // streams)
    streams = -(-predictions // per_stream)  # rounding up per_stream may leave the last streams empty
    inputs = np.zeros((streams, per_stream), dtype=np.int64)
    targets = np.full((streams, per_stream), -1, dtype=np.int64)
    for s in range(streams):
        begin, end = s * per_stream, min((s + 1) * per_stream, predictions)
        inputs[s, : end - begin] = ids[begin:end]
        targets[s, : end - begin] = ids[begin + 1:end + 1]
    was_training = model.training
    model.eval()
    total, state = 0.0, None
    rows = slice(None) if world is None else world.part(streams)
    inputs_t = torch.from_numpy(inputs[rows]).to(device)
    targets_t = torch.from_numpy(targets[rows]).to(device)
    for start in range(0, per_stream if len(inputs_t) else 0, seq_len):
        logits, state = model(inputs_t[:, start:start + seq_len], state)
        chunk_targets = targets_t[:, start:start + seq_len]
        total += F.cross_entropy(logits.float().flatten(0, 1), chunk_targets.flatten(),
                                 ignore_index=-1, reduction="sum").item()
    model.train(was_training)
    if world is not None:
        total = world.sum(total)[0]
    return total, predictions
