"""``NGramLM``: fit on token ids, score, list distributions, sample, save and load.

Scores follow ``rnnkit eval``'s conventions exactly (``TokenStream``): the same
tokens predicted, the same characters counted, natural logs underneath, so an
n-gram's bits per character and an RNN's are one comparison.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from rnnkit.eval.scores import scores
from rnnkit.ngram.counts import NGramCounts, OrderTable
from rnnkit.ngram.estimators import NORMALISED, SMOOTHINGS, Estimator, make_estimator
from rnnkit.ngram.query import entries_query, positions_query, vocabulary_query
from rnnkit.ngram.stream import UNITS, TokenStream, sentence_marks, vocabulary_size

BINARY_FORMAT = "rnnkit-ngram-1"
CHUNK = 1 << 20  # positions scored at once: bounds memory on long texts


class NGramLM:
    """An n-gram language model of any order over any rnnkit tokenizer's ids."""

    def __init__(self, order: int, smoothing: str = "kn", delta: float = 1.0, discount: float | None = None,
                 unit: str = "stream") -> None:
        if not isinstance(order, int) or order < 1:
            raise ValueError(f"order must be an integer of at least 1 (got {order!r})")
        if smoothing not in SMOOTHINGS:
            raise ValueError(f"unknown smoothing {smoothing!r}; choose one of {', '.join(SMOOTHINGS)}")
        if unit not in UNITS:
            raise ValueError(f"unknown unit {unit!r}; choose stream or line")
        if delta <= 0:
            raise ValueError(f"delta must be positive (got {delta})")
        if discount is not None and not 0 < discount <= 1:
            raise ValueError(f"a fixed discount must lie in (0, 1] (got {discount})")
        self.order, self.smoothing, self.delta, self.discount, self.unit = order, smoothing, delta, discount, unit
        self.counts: NGramCounts | None = None
        self.estimator: Estimator | None = None
        self.tokenizer_size = 0

    @property
    def normalised(self) -> bool:
        return self.smoothing in NORMALISED

    @property
    def backoff_form(self) -> bool:
        """Whether the model can be written as an ARPA file (MLE and add-delta cannot)."""
        return self.smoothing in ("naive", "backoff", "kn")

    @property
    def vocab_size(self) -> int:
        return vocabulary_size(self.tokenizer_size, self.unit)

    @property
    def bos(self) -> int | None:
        return sentence_marks(self.tokenizer_size)[0] if self.unit == "line" else None

    @property
    def eos(self) -> int | None:
        return sentence_marks(self.tokenizer_size)[1] if self.unit == "line" else None

    def fit(self, stream: TokenStream, tokenizer_size: int) -> NGramLM:
        """Count ``stream`` (from ``rnnkit.ngram.stream``) over a tokenizer of ``tokenizer_size`` ids."""
        if not stream.predicted.any():
            raise ValueError("the training text has no tokens to count")
        self.tokenizer_size = tokenizer_size
        self.counts = NGramCounts.fit(stream.ids, self.order, self.vocab_size, stream.reach, stream.predicted)
        return self._build()

    def _build(self) -> NGramLM:
        predictable = np.ones(self.vocab_size, dtype=bool)
        if self.bos is not None:
            predictable[self.bos] = False
        self.estimator = make_estimator(self.smoothing, self._fitted(), predictable, self.delta, self.discount,
                                        self.bos)
        return self

    def _fitted(self) -> NGramCounts:
        if self.counts is None:
            raise ValueError("the model has not been fitted")
        return self.counts

    def token_probs(self, stream: TokenStream) -> np.ndarray:
        """p(token | history) for every scored position of ``stream``."""
        counts = self._fitted()
        positions = np.flatnonzero(stream.scored)
        out = np.empty(len(positions))
        for start in range(0, len(positions), CHUNK):
            chunk = positions[start:start + CHUNK]
            low = max(int(chunk[0]) - self.order, 0)  # lookups need only order-1 tokens before
            query = positions_query(counts, stream.ids[low:chunk[-1] + 1], stream.reach[low:chunk[-1] + 1],
                                    chunk - low)
            out[start:start + len(chunk)] = self.estimator(query)
        return out

    def logprob(self, stream: TokenStream) -> float:
        """Total natural log probability of the scored tokens (-inf if any has probability 0)."""
        with np.errstate(divide="ignore"):
            return float(np.log(self.token_probs(stream)).sum())

    def score(self, stream: TokenStream) -> dict:
        """The numbers ``rnnkit eval`` prints: nats, bits and perplexity per token and per character."""
        tokens = int(stream.scored.sum())
        if tokens == 0:
            raise ValueError("the text has no token to score")
        nats = -self.logprob(stream)
        result = scores(nats, tokens, stream.characters)
        result["unknown_tokens"] = int((stream.ids[stream.scored] == 0).sum())
        return result

    def perplexity(self, stream: TokenStream) -> float:
        return self.score(stream)["perplexity"]

    def bits_per_token(self, stream: TokenStream) -> float:
        return self.score(stream)["bits_per_token"]

    def distribution(self, history: np.ndarray) -> np.ndarray:
        """p(w | history) for every id w of the vocabulary."""
        return self.estimator(vocabulary_query(self._fitted(), history))

    def entry_log10_probs(self, k: int) -> np.ndarray:
        """log10 p(w | h) of every order-k n-gram hw in its own context (what an ARPA file lists)."""
        with np.errstate(divide="ignore"):
            return np.log10(self.estimator(entries_query(self._fitted(), k)))

    def sample(self, history: np.ndarray, length: int, temperature: float = 1.0, top_k: int = 0,
               top_p: float = 1.0, rng: np.random.Generator | None = None) -> Iterator[int]:
        """Draw ``length`` tokens after ``history``; a line model starts a new line after ``</s>``."""
        rng = rng or np.random.default_rng()
        history = list(np.asarray(history, dtype=np.int64))
        for _ in range(length):
            context = np.array(history[-(self.order - 1):] if self.order > 1 else [], dtype=np.int64)
            token = draw(self.distribution(context), temperature, top_k, top_p, rng)
            yield token
            history = [self.bos] if token == self.eos else [*history, token]

    def save(self, path: Path) -> None:
        """A binary file: the count tables as safetensors, the settings as its JSON metadata."""
        from safetensors.numpy import save_file

        counts = self._fitted()
        arrays = {}
        for k, table in enumerate(counts.tables, start=1):
            arrays.update({f"{k}.keys": table.keys, f"{k}.counts": table.counts, f"{k}.suffix": table.suffix})
        meta = {"format": BINARY_FORMAT, "order": self.order, "smoothing": self.smoothing, "delta": self.delta,
                "discount": self.discount, "unit": self.unit, "tokenizer_size": self.tokenizer_size}
        save_file(arrays, str(path), metadata={"rnnkit": json.dumps(meta)})

    @classmethod
    def load(cls, path: Path) -> NGramLM:
        """Read what ``save`` wrote; raises ValueError for anything else."""
        from safetensors import SafetensorError, safe_open

        try:
            with safe_open(str(path), framework="numpy") as handle:
                meta = json.loads((handle.metadata() or {}).get("rnnkit", "{}"))
                arrays = {name: handle.get_tensor(name) for name in handle.keys()}  # noqa: SIM118 (not iterable)
        except (SafetensorError, OSError, json.JSONDecodeError) as err:
            raise ValueError(f"{path}: unreadable n-gram model ({err})") from err
        if meta.get("format") != BINARY_FORMAT:
            raise ValueError(f"{path}: not an rnnkit n-gram model")
        try:
            tables = [OrderTable(*(arrays[f"{k}.{name}"] for name in ("keys", "counts", "suffix")))
                      for k in range(1, meta["order"] + 1)]
        except KeyError as err:
            raise ValueError(f"{path}: incomplete n-gram model (no {err})") from err
        model = cls(meta["order"], meta["smoothing"], meta["delta"], meta["discount"], meta["unit"])
        model.tokenizer_size = meta["tokenizer_size"]
        model.counts = NGramCounts(model.vocab_size, tables)
        return model._build()


def draw(p: np.ndarray, temperature: float, top_k: int, top_p: float, rng: np.random.Generator) -> int:
    """One token from ``p`` after temperature (0: argmax), top-k and nucleus filtering."""
    if temperature <= 0:
        return int(np.argmax(p))
    with np.errstate(divide="ignore"):
        logits = np.log(p) / temperature
    weights = np.exp(logits - logits.max())
    if 0 < top_k < len(weights):
        weights[weights < np.partition(weights, -top_k)[-top_k]] = 0.0
    if top_p < 1.0:
        order = np.argsort(-weights)
        cumulative = np.cumsum(weights[order]) / weights.sum()
        dropped = order[int(np.searchsorted(cumulative, top_p)) + 1:]
        weights[dropped] = 0.0
    return int(rng.choice(len(weights), p=weights / weights.sum()))
