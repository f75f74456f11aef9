"""From counts to probabilities: the estimators the lectures teach, plus the two that work.

Notation: h is a context, w a token, c(hw) a count, C(h) = sum_w c(hw), n the
model's order, V the number of tokens a model may predict (the vocabulary less
``<s>``). Each estimator precomputes per-order arrays once, then answers a
``Query`` with array arithmetic, one order at a time from the unigram up.

mle          c(hw) / C(h) at order n (order i+1 for the i-th token of a text): zero for
             anything unseen, so one unseen token makes the perplexity infinite.
add-delta    (c(hw) + delta) / (C(h) + delta V): Laplace when delta = 1, Lidstone below.
naive        the lectures' backoff: the MLE of the longest context whose n-gram was seen,
             down to an add-delta unigram. It sums to more than 1 over the vocabulary:
             every token seen after a long context also keeps its lower-order mass.
backoff      absolute-discount backoff (Ney, Essen & Kneser 1994): seen n-grams give up D,
             unseen ones share it through a weight alpha(h) chosen so each distribution
             sums to exactly 1.
kn           interpolated modified Kneser-Ney (Chen & Goodman 1998) as KenLM estimates it:
             three discounts per order from counts of counts, lower orders counted by the
             number of distinct tokens seen before an n-gram, the unigram interpolated
             with the uniform distribution.
"""

from __future__ import annotations

import numpy as np

from rnnkit.ngram.counts import NGramCounts
from rnnkit.ngram.query import Query

SMOOTHINGS = ("mle", "add-delta", "naive", "backoff", "kn")
NORMALISED = ("mle", "add-delta", "backoff", "kn")  # mle: where the context was seen
FALLBACK_DISCOUNT = 0.5  # where a tiny corpus gives no usable counts of counts


class Estimator:
    """Probabilities from counts. ``predictable`` marks the tokens that may be predicted."""

    def __init__(self, counts: NGramCounts, predictable: np.ndarray) -> None:
        self.counts = counts
        self.predictable = predictable
        self.size = int(predictable.sum())
        self.totals = [context_sums(counts, k, table.counts) for k, table in enumerate(counts.tables, start=1)]

    def prob(self, query: Query) -> np.ndarray:
        raise NotImplementedError

    def backoff_weights(self, k: int) -> np.ndarray:
        """Weight of each order-k entry as a context, for models with a backoff (ARPA) form."""
        raise NotImplementedError(f"{type(self).__name__} has no backoff form")

    def __call__(self, query: Query) -> np.ndarray:
        return np.where(self.predictable[query.tokens], self.prob(query), 0.0)

    def ngram_count(self, query: Query, k: int, counts: np.ndarray | None = None) -> np.ndarray:
        entry = query.ngram[k - 1]
        counts = self.counts.tables[k - 1].counts if counts is None else counts
        return np.where(entry >= 0, counts[np.maximum(entry, 0)], 0)

    def context_total(self, query: Query, k: int, totals: np.ndarray | None = None) -> np.ndarray:
        context = query.context[k - 1]
        totals = self.totals[k - 1] if totals is None else totals
        return np.where(context >= 0, totals[np.maximum(context, 0)], 0)

    def effective_order(self, query: Query) -> np.ndarray:
        return np.minimum(query.history + 1, self.counts.order)


class MaximumLikelihood(Estimator):
    def prob(self, query: Query) -> np.ndarray:
        order = self.effective_order(query)
        p = np.zeros(len(query))
        for k in range(1, self.counts.order + 1):
            here = order == k
            count, total = self.ngram_count(query, k), self.context_total(query, k)
            p = np.where(here & (total > 0), count / np.maximum(total, 1), np.where(here, 0.0, p))
        return p


class AddDelta(Estimator):
    def __init__(self, counts: NGramCounts, predictable: np.ndarray, delta: float = 1.0) -> None:
        super().__init__(counts, predictable)
        self.delta = delta

    def prob(self, query: Query) -> np.ndarray:
        order = self.effective_order(query)
        p = np.zeros(len(query))
        for k in range(1, self.counts.order + 1):
            count, total = self.ngram_count(query, k), self.context_total(query, k)
            p = np.where(order == k, (count + self.delta) / (total + self.delta * self.size), p)
        return p


class NaiveBackoff(AddDelta):
    def prob(self, query: Query) -> np.ndarray:
        p = (self.ngram_count(query, 1) + self.delta) / (self.context_total(query, 1) + self.delta * self.size)
        for k in range(2, self.counts.order + 1):
            count, total = self.ngram_count(query, k), self.context_total(query, k)
            p = np.where(count > 0, count / np.maximum(total, 1), p)
        return p

    def backoff_weights(self, k: int) -> np.ndarray:
        """Weight of each order-k entry as a context: always 1, which is why it does not sum to 1."""
        return np.ones(len(self.counts.tables[k - 1].keys))


class AbsoluteDiscountBackoff(Estimator):
    def __init__(self, counts: NGramCounts, predictable: np.ndarray, discount: float | None = None) -> None:
        super().__init__(counts, predictable)
        size = counts.vocab_size
        self.discounts, self.seen_prob, self.alpha = [], [], []
        for k, table in enumerate(counts.tables, start=1):
            seen = table.counts > 0
            d = discount if discount is not None else single_discount(table.counts)
            parents = table.parents(size)
            seen_children = np.bincount(parents[seen], minlength=len(self.totals[k - 1]))
            if k == 1 and seen_children[0] >= self.size:
                d = 0.0  # every token was seen: no mass is needed for unseen ones
            total = self.totals[k - 1]
            seen_prob = np.where(seen, (table.counts - d) / np.maximum(total[parents], 1), 0.0)
            if k == 1:
                lower = np.array([seen_children[0] / self.size])
            else:  # mass the seen tokens already had one order down, per context
                below = self.seen_prob[k - 2][table.suffix]
                lower = np.bincount(parents[seen], weights=below[seen], minlength=len(total))
            left = d * seen_children / np.maximum(total, 1)
            free = 1.0 - lower
            alpha = np.where((total > 0) & (free > 1e-12), left / np.where(free > 1e-12, free, 1.0), 1.0)
            self.discounts.append(d)
            self.seen_prob.append(seen_prob)
            self.alpha.append(alpha)

    def prob(self, query: Query) -> np.ndarray:
        p = np.full(len(query), 1.0 / self.size)
        for k in range(1, self.counts.order + 1):
            entry, context = query.ngram[k - 1], query.context[k - 1]
            seen = self.ngram_count(query, k) > 0
            usable = self.context_total(query, k) > 0
            backed_off = np.where(usable, self.alpha[k - 1][np.maximum(context, 0)] * p, p)
            p = np.where(seen, self.seen_prob[k - 1][np.maximum(entry, 0)], backed_off)
        return p

    def backoff_weights(self, k: int) -> np.ndarray:
        """alpha of each order-k entry as a context of order k + 1 (1 where it never was one)."""
        if k >= self.counts.order:
            return np.ones(len(self.counts.tables[k - 1].keys))
        return self.alpha[k]


class KneserNey(Estimator):
    """``discount=None``: modified KN, three discounts per order; a number: one fixed discount."""

    def __init__(self, counts: NGramCounts, predictable: np.ndarray, discount: float | None = None,
                 bos: int | None = None) -> None:
        super().__init__(counts, predictable)
        size = counts.vocab_size
        self.adjusted = adjusted_counts(counts, bos)
        self.discounts, self.adjusted_totals, self.gamma = [], [], []
        for k, table in enumerate(counts.tables, start=1):
            a = self.adjusted[k - 1]
            d = np.array([0.0, discount, discount, discount]) if discount is not None else modified_discounts(a)
            parents = table.parents(size)
            total = context_sums(counts, k, a)
            mass = np.bincount(parents, weights=d[np.minimum(a, 3)], minlength=len(total))
            self.discounts.append(d)
            self.adjusted_totals.append(total)
            self.gamma.append(np.where(total > 0, mass / np.maximum(total, 1), 0.0))

    def prob(self, query: Query) -> np.ndarray:
        p = np.full(len(query), 1.0 / self.size)
        for k in range(1, self.counts.order + 1):
            a = self.ngram_count(query, k, self.adjusted[k - 1])
            total = self.context_total(query, k, self.adjusted_totals[k - 1])
            gamma = self.gamma[k - 1][np.maximum(query.context[k - 1], 0)]
            d = self.discounts[k - 1][np.minimum(a, 3)]
            p = np.where(total > 0, np.maximum(a - d, 0.0) / np.maximum(total, 1) + gamma * p, p)
        return p

    def backoff_weights(self, k: int) -> np.ndarray:
        """gamma of each order-k entry as a context of order k + 1 (1 where it never was one)."""
        if k >= self.counts.order:
            return np.ones(len(self.counts.tables[k - 1].keys))
        return np.where(self.adjusted_totals[k] > 0, self.gamma[k], 1.0)


def context_sums(counts: NGramCounts, k: int, values: np.ndarray) -> np.ndarray:
    """sum over w of ``values[hw]`` for each context h of order k (an entry of table k-1, or the root)."""
    contexts = 1 if k == 1 else len(counts.tables[k - 2].keys)
    parents = counts.tables[k - 1].parents(counts.vocab_size)
    return np.bincount(parents, weights=values, minlength=contexts)


def adjusted_counts(counts: NGramCounts, bos: int | None) -> list[np.ndarray]:
    """Kneser-Ney's counts: raw at the top order and for n-grams that start with ``<s>``
    (nothing can precede them); below, the number of distinct tokens seen before the n-gram."""
    size = counts.vocab_size
    adjusted = []
    first = counts.tables[0].tokens(size)
    for k, table in enumerate(counts.tables, start=1):
        if k > 1:
            first = first[table.parents(size)]
        if k == counts.order:
            adjusted.append(table.counts.copy())
            continue
        above = counts.tables[k]
        continuation = np.bincount(above.suffix[above.counts > 0], minlength=len(table.keys))
        starts_sentence = (first == bos) if bos is not None else np.zeros(len(table.keys), dtype=bool)
        adjusted.append(np.where(starts_sentence, table.counts, continuation).astype(np.int64))
    return adjusted


def modified_discounts(adjusted: np.ndarray) -> np.ndarray:
    """[0, D1, D2, D3+] from counts of counts t1..t4 (Chen & Goodman eq. 26, as KenLM does).

    A corpus too small for valid estimates (a t is zero, or a D falls outside [0, its
    count]) gets ``FALLBACK_DISCOUNT`` for all three rather than an error.
    """
    t = np.array([np.count_nonzero(adjusted == j) for j in range(1, 5)], dtype=float)
    if np.all(t > 0):
        y = t[0] / (t[0] + 2 * t[1])
        d = np.array([1 - 2 * y * t[1] / t[0], 2 - 3 * y * t[2] / t[1], 3 - 4 * y * t[3] / t[2]])
        if np.all((d > 0) & (d <= np.array([1.0, 2.0, 3.0]))):
            return np.concatenate([[0.0], d])
    return np.array([0.0] + [FALLBACK_DISCOUNT] * 3)


def single_discount(counts: np.ndarray) -> float:
    """D = n1 / (n1 + 2 n2), Ney et al.'s estimate for absolute discounting."""
    n1, n2 = np.count_nonzero(counts == 1), np.count_nonzero(counts == 2)
    return n1 / (n1 + 2 * n2) if n1 > 0 and n2 > 0 else FALLBACK_DISCOUNT


def make_estimator(smoothing: str, counts: NGramCounts, predictable: np.ndarray, delta: float = 1.0,
                   discount: float | None = None, bos: int | None = None) -> Estimator:
    if smoothing == "mle":
        return MaximumLikelihood(counts, predictable)
    if smoothing == "add-delta":
        return AddDelta(counts, predictable, delta)
    if smoothing == "naive":
        return NaiveBackoff(counts, predictable, delta)
    if smoothing == "backoff":
        return AbsoluteDiscountBackoff(counts, predictable, discount)
    if smoothing == "kn":
        return KneserNey(counts, predictable, discount, bos)
    raise ValueError(f"unknown smoothing {smoothing!r}; choose one of {', '.join(SMOOTHINGS)}")
