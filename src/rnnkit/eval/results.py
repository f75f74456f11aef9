"""What each task's ``eval`` returns: typed results, printed by the command line and sent as JSON.

Every result is a frozen dataclass built from the scoring functions' numbers, so a
caller reads ``result.bits_per_char`` rather than a key, and ``to_dict()`` is the JSON
``rnnkit eval --json`` prints (and, next, what the HTTP server returns).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any


def finite(record: dict[str, Any]) -> dict[str, Any]:
    """A result's dict for JSON, which has no infinity: an infinite value is null, a missing one absent."""
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in record.items()
            if v is not None}


@dataclasses.dataclass(frozen=True)
class Result:
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def of(cls, numbers: dict, **more: Any):
        """The result from a scoring function's dict (keys it does not know are left out)."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in {**numbers, **more}.items() if k in names})


@dataclasses.dataclass(frozen=True)
class TextScores(Result):
    """A model of text (stream, lines or n-gram) over some text: per token and per character."""

    tokens: int
    characters: int
    nats_per_token: float
    bits_per_token: float
    perplexity: float
    nats_per_char: float
    bits_per_char: float
    char_perplexity: float
    unknown_tokens: int = 0
    lines: int | None = None   # a line model: how many lines (each with its end)


@dataclasses.dataclass(frozen=True)
class ClassScores(Result):
    precision: float
    recall: float
    f1: float
    support: int


@dataclasses.dataclass(frozen=True)
class ClassifierScores(Result):
    accuracy: float
    macro_f1: float
    examples: int
    per_class: dict[str, ClassScores]
    confusion: list[list[int]]   # rows: true label, columns: predicted, in the run's label order

    @classmethod
    def of(cls, numbers: dict, **more: Any) -> ClassifierScores:
        per_class = {label: ClassScores(**row) for label, row in numbers["per_class"].items()}
        return super().of({**numbers, "per_class": per_class}, **more)


@dataclasses.dataclass(frozen=True)
class TranslationScores(Result):
    bleu: float
    chrf: float
    bleu_signature: str
    chrf_signature: str
    precisions: list[float]
    brevity_penalty: float
    sentences: int
    by_length: list[dict]        # BLEU per source-length bucket: words, sentences, bleu
    beam: int
    unknown_in_output: int = 0   # <unk> tokens the translations hold (each one a word BLEU cannot match)
    unknown_in_source: int = 0   # source tokens outside the source vocabulary


@dataclasses.dataclass(frozen=True)
class CaptionScores(Result):
    """A captioner over photos, each scored against all its references."""

    bleu1: float
    bleu2: float
    bleu3: float
    bleu4: float
    cider: float                 # CIDEr-D, as the COCO toolkit computes it
    bleu_signature: str
    images: int
    beam: int
    mean_words: float            # how long the captions are
    distinct_words: int          # how many different words they use (a model that repeats itself uses few)


@dataclasses.dataclass(frozen=True)
class ForecastErrors(Result):
    mae: float
    rmse: float
    mase: float
    mae_per_step: list[float]
    rmse_per_step: list[float]


@dataclasses.dataclass(frozen=True)
class ForecastScores(Result):
    """The model's errors on the test windows, beside every naive baseline's on the same windows."""

    errors: ForecastErrors
    baselines: dict[str, ForecastErrors]
    origins: int
    first: str
    last: str

    def best_baseline(self) -> str:
        return min(self.baselines, key=lambda name: self.baselines[name].mae)
