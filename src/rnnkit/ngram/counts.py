"""N-gram counts as a trie of sorted integer keys: fitting and lookup are NumPy sorts.

Every n-gram of order k is an entry of table k, keyed by ``parent * V + token`` where
``parent`` is the entry of its first k-1 tokens in table k-1 (table 1's parent is
the root, 0). One sort of the text finds the n-grams of every order (one
``np.unique`` per order where the vocabulary is too large for that); looking up a
whole test text is one ``np.searchsorted`` per order. Nothing loops over n-grams in
Python, which is what makes a 7-gram over 10 MB take seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class OrderTable:
    """The n-grams of one order: sorted keys, counts, and links to the order below."""

    keys: np.ndarray  # int64, sorted: parent * vocab_size + token
    counts: np.ndarray  # int64: times the n-gram ends at a predicted position
    suffix: np.ndarray  # int64: entry in the table below of the n-gram without its first token

    def parents(self, vocab_size: int) -> np.ndarray:
        return self.keys // vocab_size

    def tokens(self, vocab_size: int) -> np.ndarray:
        return self.keys % vocab_size

    def find(self, keys: np.ndarray) -> np.ndarray:
        """Entry of each key, or -1 where the table lacks it."""
        if len(self.keys) == 0:
            return np.full(len(keys), -1, dtype=np.int64)
        index = np.searchsorted(self.keys, keys)
        clipped = np.minimum(index, len(self.keys) - 1)
        return np.where(self.keys[clipped] == keys, clipped, -1)


def reach_of_stream(length: int) -> np.ndarray:
    """How many tokens back an n-gram ending at each position may reach: a plain stream."""
    return np.arange(1, length + 1, dtype=np.int64)


def reach_of_segments(starts: np.ndarray, length: int) -> np.ndarray:
    """The same when n-grams must not cross the segment (line) boundaries at ``starts``."""
    segment_of = np.zeros(length, dtype=np.int64)
    segment_of[starts[1:]] = 1
    segment_start = starts[np.cumsum(segment_of)]
    return np.arange(length, dtype=np.int64) - segment_start + 1


class NGramCounts:
    """Tables for orders 1..order over one token sequence."""

    def __init__(self, vocab_size: int, tables: list[OrderTable]) -> None:
        self.vocab_size = vocab_size
        self.tables = tables

    @property
    def order(self) -> int:
        return len(self.tables)

    @classmethod
    def fit(cls, ids: np.ndarray, order: int, vocab_size: int, reach: np.ndarray,
            predicted: np.ndarray) -> NGramCounts:
        """Count every n-gram of ``ids`` up to ``order`` that stays within ``reach``.

        ``predicted`` marks the positions whose token a model is asked for (all but
        ``<s>``); only those add to counts, but every n-gram gets an entry so it can be
        a context.
        """
        ids = np.asarray(ids, dtype=np.int64)
        weights = predicted.astype(np.int64)
        grouping = SortedHistories(ids, order, vocab_size, reach) if fits_one_key(vocab_size, order) else None
        tables: list[OrderTable] = []
        below = np.zeros(len(ids), dtype=np.int64)  # entry of the (k-1)-gram ending at each position
        for k in range(1, order + 1):
            if grouping is not None:
                group, first = grouping.groups(k)
            else:
                group, first = groups_by_unique(ids, k, vocab_size, reach, below)
            parent = previous_entry(below)[first] if k > 1 else np.zeros(len(first), dtype=np.int64)
            keys = parent * vocab_size + ids[first]
            rank = np.argsort(keys, kind="stable")
            entry_of_group = np.empty(len(first), dtype=np.int64)
            entry_of_group[rank] = np.arange(len(first))
            valid = group >= 0
            entry = np.where(valid, entry_of_group[np.maximum(group, 0)], -1)
            counts = np.bincount(entry[valid], weights=weights[valid], minlength=len(first)).astype(np.int64)
            # the k-gram ending at i, less its first token, is the (k-1)-gram ending at i
            suffix = below[first][rank] if k > 1 else np.zeros(len(first), dtype=np.int64)
            tables.append(OrderTable(keys[rank], counts, suffix))
            below = entry
        return cls(vocab_size, tables)

    def lookup(self, ids: np.ndarray, reach: np.ndarray) -> list[np.ndarray]:
        """For each order k, the entry of the k-gram ending at each position of ``ids`` (-1: unseen)."""
        ids = np.asarray(ids, dtype=np.int64)
        entries = []
        below = np.zeros(len(ids), dtype=np.int64)
        for k, table in enumerate(self.tables, start=1):
            parent = np.zeros(len(ids), dtype=np.int64) if k == 1 else previous_entry(below)
            usable = (parent >= 0) & (reach >= k)
            found = table.find(np.where(usable, parent, 0) * self.vocab_size + ids)
            below = np.where(usable, found, -1)
            entries.append(below)
        return entries


def fits_one_key(vocab_size: int, order: int) -> bool:
    """Whether ``order`` tokens (plus an "absent" digit) pack into one int64."""
    return (vocab_size + 1) ** order < 2**62


class SortedHistories:
    """One sort for all orders: every position keyed by its last ``order`` tokens read backwards.

    In that order the k-grams ending at each position are contiguous runs for every k at
    once, so finding the distinct n-grams of all orders costs one sort of the text
    instead of one per order. Used when the key fits in an int64 (characters, and small
    vocabularies); ``groups_by_unique`` is the general path.
    """

    def __init__(self, ids: np.ndarray, order: int, vocab_size: int, reach: np.ndarray) -> None:
        self.base, self.order = vocab_size + 1, order
        key = np.zeros(len(ids), dtype=np.int64)
        for back in range(order):  # digit 0 means "no token": beyond the start of the segment
            digit = np.zeros(len(ids), dtype=np.int64)
            digit[back:] = ids[: len(ids) - back] + 1
            key = key * self.base + np.where(reach > back, digit, 0)
        self.perm = np.argsort(key)
        self.sorted_key = key[self.perm]

    def groups(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(group of the k-gram ending at each position, -1 where none; one position per group)."""
        top = self.sorted_key // self.base ** (self.order - k)
        starts = np.ones(len(top), dtype=bool)
        starts[1:] = top[1:] != top[:-1]
        present = top % self.base != 0
        starts &= present
        run = np.cumsum(starts) - 1
        group = np.empty(len(top), dtype=np.int64)
        group[self.perm] = np.where(present, run, -1)
        return group, self.perm[np.flatnonzero(starts)]


def groups_by_unique(ids: np.ndarray, k: int, vocab_size: int, reach: np.ndarray,
                     below: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The same grouping by one ``np.unique`` per order, keyed by the (k-1)-gram's entry."""
    positions = np.flatnonzero(reach >= k)
    keys = ids[positions] if k == 1 else previous_entry(below)[positions] * vocab_size + ids[positions]
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    group = np.full(len(ids), -1, dtype=np.int64)
    group[positions] = inverse
    return group, positions[first]


def previous_entry(entries: np.ndarray) -> np.ndarray:
    """Shift right by one: the entry of the n-gram ending just before each position."""
    shifted = np.empty_like(entries)
    shifted[0] = -1
    shifted[1:] = entries[:-1]
    return shifted
