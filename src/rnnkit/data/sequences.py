"""Many short sequences: padded batches with their true lengths, shuffled by epoch.

Examples of different lengths are batched together, never one at a time. Each
epoch shuffles the examples, then sorts pools of 50 batches by length so a batch
holds similar lengths (little padding), then shuffles the batch order. A batch
depends only on the seed and the step, so a resumed run sees the same batches.
"""

from __future__ import annotations

import numpy as np
import torch

POOL_BATCHES = 50


def pad(sequences: list[np.ndarray], pad_id: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(ids (B, T) int64 padded with ``pad_id``, lengths (B,) int64); T is the longest length."""
    lengths = torch.tensor([len(s) for s in sequences], dtype=torch.int64)
    ids = torch.full((len(sequences), int(lengths.max())), pad_id, dtype=torch.int64)
    for row, sequence in enumerate(sequences):
        ids[row, : len(sequence)] = torch.from_numpy(np.asarray(sequence, dtype=np.int64))
    return ids, lengths


class EpochBatches:
    """``indices(step)``: which examples make up the batch of a global step. A subclass says how
    many batches an epoch has and how one epoch is cut; the current epoch's cut is kept."""

    def __init__(self, lengths: np.ndarray, seed: int) -> None:
        self.lengths, self.seed = np.asarray(lengths), seed
        if len(self.lengths) == 0:
            raise ValueError("no examples to batch")
        self._epoch, self._batches = -1, []

    @property
    def per_epoch(self) -> int:
        raise NotImplementedError

    def indices(self, step: int) -> np.ndarray:
        epoch, position = divmod(step, self.per_epoch)
        if epoch != self._epoch:
            self._batches, self._epoch = self._epoch_batches(epoch), epoch
        return self._batches[position]

    def _epoch_batches(self, epoch: int) -> list[np.ndarray]:
        raise NotImplementedError


class ShuffledBatches(EpochBatches):
    """Batches of ``batch_size`` examples, sorted by length within pools of 50 batches."""

    def __init__(self, lengths: np.ndarray, batch_size: int, seed: int) -> None:
        self.batch_size = batch_size
        super().__init__(lengths, seed)

    @property
    def per_epoch(self) -> int:
        return -(-len(self.lengths) // self.batch_size)

    def _epoch_batches(self, epoch: int) -> list[np.ndarray]:
        rng = np.random.default_rng([self.seed, epoch])
        order = rng.permutation(len(self.lengths))
        pool = self.batch_size * POOL_BATCHES
        batches = []
        for start in range(0, len(order), pool):
            chunk = order[start:start + pool]
            chunk = chunk[np.argsort(self.lengths[chunk], kind="stable")]
            batches.extend(chunk[i:i + self.batch_size] for i in range(0, len(chunk), self.batch_size))
        return [batches[i] for i in rng.permutation(len(batches))]


class TokenBatches(EpochBatches):
    """Batches of about ``batch_tokens`` tokens, padding counted, so a batch of short pairs has
    many rows and one of long pairs few, and little of either is padding.

    Examples are sorted by length and cut where the next row would take the batch's padded size
    (rows times its longest) past the budget; an example longer than the budget is a batch alone.
    Each epoch breaks ties between equal lengths at random and shuffles the batches, both from
    the seed and the epoch: which pairs meet changes, the cut points and so the number of
    batches do not, so a step number names one batch and a resumed run sees the same ones."""

    def __init__(self, lengths: np.ndarray, batch_tokens: int, seed: int) -> None:
        self.batch_tokens = batch_tokens
        super().__init__(lengths, seed)
        self._ends = self._cut_points(np.sort(self.lengths, kind="stable"))

    def _cut_points(self, ordered: np.ndarray) -> list[int]:
        ends, start = [], 0
        for end in range(1, len(ordered) + 1):
            if (end - start) * ordered[end - 1] > self.batch_tokens and end - 1 > start:
                ends.append(end - 1)
                start = end - 1
        return [*ends, len(ordered)]

    @property
    def per_epoch(self) -> int:
        return len(self._ends)

    def _epoch_batches(self, epoch: int) -> list[np.ndarray]:
        rng = np.random.default_rng([self.seed, epoch, 2])
        order = np.lexsort((rng.random(len(self.lengths)), self.lengths))  # by length, ties at random
        batches = np.split(order, self._ends[:-1])
        return [batches[i] for i in rng.permutation(len(batches))]
