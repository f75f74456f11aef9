"""Text -> the token sequence an n-gram model counts and scores, in one of two units.

``stream``: the text is one token sequence, exactly as the RNN reads it; scoring
predicts every token after the first, as ``rnnkit eval`` does.
``line``: each line is a sentence ``<s> tokens </s>``, the convention of the
n-gram literature and of KenLM; no n-gram crosses a line, ``</s>`` stands for the
newline (one character), and every token after ``<s>`` is predicted.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rnnkit.ngram.counts import reach_of_segments, reach_of_stream

UNITS = ("stream", "line")


@dataclass
class TokenStream:
    """Token ids with, per position, how far back an n-gram may reach and whether it is predicted."""

    ids: np.ndarray
    reach: np.ndarray
    predicted: np.ndarray  # counted when fitting: every position but <s>
    scored: np.ndarray  # predicted when scoring: as predicted, less a stream's first token
    characters: int  # characters the scored tokens spell


def vocabulary_size(tokenizer_size: int, unit: str) -> int:
    """The model's vocabulary: the tokenizer's, plus ``<s>`` and ``</s>`` for lines."""
    return tokenizer_size + (2 if unit == "line" else 0)


def sentence_marks(tokenizer_size: int) -> tuple[int, int]:
    """Ids of ``<s>`` and ``</s>`` in a line-unit model."""
    return tokenizer_size, tokenizer_size + 1


def from_ids(ids: np.ndarray, tokenizer_size: int, unit: str, line_lengths: list[int] | None = None,
             characters: int = 0) -> TokenStream:
    """Build a stream from ids already cut into lines (``line_lengths``) when ``unit`` is line."""
    ids = np.asarray(ids, dtype=np.int64)
    if unit == "stream":
        scored = np.ones(len(ids), dtype=bool)
        scored[:1] = False
        return TokenStream(ids, reach_of_stream(len(ids)), np.ones(len(ids), dtype=bool), scored, characters)
    bos, eos = sentence_marks(tokenizer_size)
    lengths = np.asarray(line_lengths, dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths + 2)[:-1]]).astype(np.int64)
    total = int((lengths + 2).sum())
    sequence = np.empty(total, dtype=np.int64)
    sequence[starts] = bos
    sequence[starts + lengths + 1] = eos
    inside = np.ones(total, dtype=bool)
    inside[starts] = False
    inside[starts + lengths + 1] = False
    sequence[inside] = ids
    predicted = sequence != bos
    return TokenStream(sequence, reach_of_segments(starts, total), predicted, predicted.copy(), characters)


def from_text(text: str, tokenizer, unit: str) -> TokenStream:
    """Encode ``text`` with ``tokenizer`` (any rnnkit tokenizer) in the given unit."""
    if unit == "stream":
        ids = tokenizer.encode(text)
        return from_ids(ids, tokenizer.vocab_size, unit, characters=tokenizer.token_chars(ids[1:]))
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # a final newline ends the last line rather than starting an empty one
    encoded = [tokenizer.encode(line) for line in lines]
    ids = np.concatenate(encoded) if encoded else np.zeros(0, dtype=np.int64)
    characters = sum(tokenizer.token_chars(e) for e in encoded) + len(encoded)  # each </s> is a newline
    return from_ids(ids, tokenizer.vocab_size, unit, [len(e) for e in encoded], characters)
