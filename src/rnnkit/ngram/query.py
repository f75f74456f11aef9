"""Which table entries a batch of (context, token) questions touches, for every order.

Each estimator turns these entries into probabilities with array arithmetic, so
scoring a file and listing a whole next-token distribution are the same code.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rnnkit.ngram.counts import NGramCounts, reach_of_stream


@dataclass
class Query:
    """M questions "p(token | context)?" resolved against the count tables.

    ``context[k-1]`` is the entry in table k-1 of the k-1 tokens before, for order
    k (0, the root, for order 1; -1 where unseen or beyond the available history);
    ``ngram[k-1]`` is the entry in table k of those tokens plus the token (-1: unseen).
    """

    tokens: np.ndarray
    history: np.ndarray  # tokens of context available to each question
    context: list[np.ndarray]
    ngram: list[np.ndarray]

    def __len__(self) -> int:
        return len(self.tokens)


def positions_query(counts: NGramCounts, ids: np.ndarray, reach: np.ndarray, positions: np.ndarray) -> Query:
    """Questions for the tokens at ``positions`` of a sequence, each given what precedes it."""
    entries = counts.lookup(ids, reach)
    positions = np.asarray(positions, dtype=np.int64)
    here = reach[positions]
    context = [np.zeros(len(positions), dtype=np.int64)]
    for k in range(2, counts.order + 1):
        before = entries[k - 2][np.maximum(positions - 1, 0)]
        context.append(np.where(here >= k, before, -1))
    ngram = [entries[k - 1][positions] for k in range(1, counts.order + 1)]
    return Query(ids[positions], here - 1, context, ngram)


def vocabulary_query(counts: NGramCounts, history: np.ndarray) -> Query:
    """Questions for every token of the vocabulary after one ``history`` of token ids."""
    history = np.asarray(history, dtype=np.int64)[-(counts.order - 1):] if counts.order > 1 else np.zeros(0, int)
    size = counts.vocab_size
    tokens = np.arange(size, dtype=np.int64)
    entries = counts.lookup(history, reach_of_stream(len(history))) if len(history) else []
    context, ngram = [], []
    for k, table in enumerate(counts.tables, start=1):
        if k == 1:
            parent = 0
        elif len(history) >= k - 1:
            parent = int(entries[k - 2][-1])
        else:
            parent = -1
        context.append(np.full(size, parent, dtype=np.int64))
        ngram.append(table.find(parent * size + tokens) if parent >= 0 else np.full(size, -1, dtype=np.int64))
    return Query(tokens, np.full(size, len(history), dtype=np.int64), context, ngram)


def entries_query(counts: NGramCounts, k: int) -> Query:
    """Questions for every n-gram of table k, each asked in its own context (for ARPA files)."""
    size = counts.vocab_size
    table = counts.tables[k - 1]
    ngram: list[np.ndarray] = [np.empty(0)] * k
    context: list[np.ndarray] = [np.empty(0)] * k
    entry = np.arange(len(table.keys), dtype=np.int64)
    parent = table.parents(size)
    for j in range(k, 0, -1):  # walk down: drop the first token at each step
        ngram[j - 1] = entry
        context[j - 1] = parent if j > 1 else np.zeros(len(entry), dtype=np.int64)
        if j > 1:
            entry = counts.tables[j - 1].suffix[entry]
            parent = counts.tables[j - 2].suffix[parent] if j > 2 else np.zeros(len(entry), dtype=np.int64)
    missing = [np.full(len(table.keys), -1, dtype=np.int64)] * (counts.order - k)
    return Query(table.tokens(size), np.full(len(table.keys), k - 1, dtype=np.int64),
                 context + missing, ngram + missing)
