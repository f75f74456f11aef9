"""A captioner's words: the training captions' words seen often enough, the rest ``<unk>``.

Captions are normalised before they get here (lower case, words only), so a
caption is its words joined by spaces and decoding is exact. Ids follow the
model's numbering: 0 padding, 1 start, 2 end, 3 ``<unk>``, then the words by
falling count (ties alphabetical).
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from rnnkit.tasks.caption.model import EOS, SPECIALS

UNK = SPECIALS          # the first id after the model's specials
UNK_TEXT = "<unk>"


class CaptionVocab:
    def __init__(self, words: list[str]) -> None:
        self.words = list(words)
        self._index = {w: UNK + 1 + i for i, w in enumerate(self.words)}

    @classmethod
    def fit(cls, captions: list[str], min_count: int) -> CaptionVocab:
        counts = Counter(w for caption in captions for w in caption.split())
        return cls(sorted((w for w, n in counts.items() if n >= min_count), key=lambda w: (-counts[w], w)))

    @property
    def size(self) -> int:
        """Ids the model's output layer covers: the specials, ``<unk>`` and the words."""
        return UNK + 1 + len(self.words)

    def encode(self, caption: str) -> np.ndarray:
        """The caption's ids with the end token, so the model learns where to stop."""
        return np.array([*(self._index.get(w, UNK) for w in caption.split()), EOS], dtype=np.int64)

    def word(self, index: int) -> str:
        return UNK_TEXT if index == UNK else self.words[index - UNK - 1]

    def decode(self, ids: list[int]) -> str:
        return " ".join(self.word(i) for i in ids if i >= UNK)

    def to_dict(self) -> dict:
        return {"kind": "caption-words", "words": self.words}

    @classmethod
    def from_dict(cls, data: dict) -> CaptionVocab:
        if data.get("kind") != "caption-words" or not isinstance(data.get("words"), list):
            raise ValueError("not a captioner's vocabulary")
        return cls([str(w) for w in data["words"]])
