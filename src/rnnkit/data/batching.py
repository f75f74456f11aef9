"""Token ids as compact arrays, train/validation splits, and TBPTT batches.

Truncated BPTT as in torch-rnn: split the token stream into B contiguous columns
and cut them into T-long chunks. Chunk k+1 of column b continues exactly where
chunk k ended, so a hidden state carried across chunks sees one unbroken text.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from rnnkit.errors import UserError


def id_dtype(vocab_size: int) -> type:
    """The smallest unsigned type that holds every id of the vocabulary (1 byte per char)."""
    return np.uint8 if vocab_size <= 2**8 else np.uint16 if vocab_size <= 2**16 else np.uint32


def compact_ids(ids: np.ndarray, vocab_size: int) -> np.ndarray:
    """Store ids in the smallest unsigned type the vocabulary allows."""
    return np.ascontiguousarray(ids, dtype=id_dtype(vocab_size))


def split_ids(ids: np.ndarray, val_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """The first (1 - f) of the stream trains, the last f validates (no shuffling: text is ordered)."""
    if not 0 < val_fraction < 1:
        raise UserError(f"--val-fraction {val_fraction}: must be between 0 and 1, for example 0.1")
    cut = int(round(len(ids) * (1 - val_fraction)))
    return ids[:cut], ids[cut:]


@dataclass(frozen=True)
class StreamBatches:
    """Deterministic TBPTT batches: ``batch(step)`` depends on the step alone, so resuming is exact."""

    ids: np.ndarray
    batch_size: int
    seq_len: int

    def __post_init__(self) -> None:
        if self.chunks < 1:
            raise ValueError("corpus too short for this batch size and sequence length")

    @property
    def per_stream(self) -> int:
        return (len(self.ids) - 1) // self.batch_size

    @property
    def chunks(self) -> int:
        """Chunks per pass over the data (one epoch)."""
        return self.per_stream // self.seq_len

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor, bool]:
        """(inputs (B, T), targets (B, T), starts_epoch) for a global step."""
        chunk = step % self.chunks
        n, t = self.per_stream, self.seq_len
        start = chunk * t
        columns = np.arange(self.batch_size)[:, None] * n + np.arange(start, start + t + 1)[None, :]
        window = torch.from_numpy(self.ids[columns].astype(np.int64))  # (B, T+1)
        return window[:, :-1], window[:, 1:], chunk == 0


def check_fits(n_tokens: int, batch_size: int, seq_len: int, name: str) -> None:
    """Refuse a corpus shorter than one batch, naming the largest settings that fit."""
    if n_tokens - 1 >= batch_size * seq_len:
        return
    fit_batch = (n_tokens - 1) // seq_len
    fit_len = (n_tokens - 1) // batch_size
    options = []
    if fit_batch >= 1:
        options.append(f"--batch-size {fit_batch} (at --seq-len {seq_len})")
    if fit_len >= 2:
        options.append(f"--seq-len {fit_len} (at --batch-size {batch_size})")
    fix = " or ".join(options) if options else "a longer text"
    raise UserError(f"{name}: {n_tokens} training tokens are too few for --batch-size {batch_size} "
                    f"--seq-len {seq_len}; the largest that fit: {fix}")
