"""A tagger's vocabularies (words, characters, tags) and the padded batches it reads.

Words are looked up whole (lower-cased with ``--lowercase``, a capitalisation class
beside them), and spelt out as characters for the character encoder, which is how an
unseen word still gets a sensible vector. Index 0 pads and 1 is ``<unk>`` in both.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

PAD, UNK = 0, 1
SPECIALS = ["<pad>", "<unk>"]
MAX_WORD_CHARS = 30  # a longer token (a URL) is spelt by its first characters
CAPS = ("lower", "Title", "UPPER", "other")


def caps_class(word: str) -> int:
    """Lample et al.'s capitalisation feature: all lower, first upper, all upper, or anything else."""
    if word.islower():
        return 0
    if word.isupper():
        return 2
    if word[:1].isupper() and word[1:].islower():
        return 1
    return 3


@dataclass
class Encoded:
    """One sentence as ids: words (T,), characters per word, capitalisation (T,), tags (T,)."""

    words: np.ndarray
    chars: list[np.ndarray]
    caps: np.ndarray
    tags: np.ndarray


@dataclass
class TagBatch:
    """Padded sentences: words, caps and tags (B, T), lengths (B,), and every real word's characters
    (N, L) with their lengths (N,), in row-major order of the real words."""

    words: Tensor
    caps: Tensor
    tags: Tensor
    lengths: Tensor
    chars: Tensor
    char_lengths: Tensor

    @property
    def mask(self) -> Tensor:
        return torch.arange(self.words.shape[1], device=self.words.device)[None, :] < self.lengths[:, None]

    def to(self, device: torch.device) -> TagBatch:
        return TagBatch(*(getattr(self, name).to(device) for name in
                          ("words", "caps", "tags", "lengths", "chars", "char_lengths")))


@dataclass
class TagVocab:
    words: list[str]
    chars: list[str]
    tags: list[str]
    lowercase: bool

    @classmethod
    def fit(cls, sentences: list[tuple[list[str], list[str]]], lowercase: bool, min_count: int = 1) -> TagVocab:
        """Every training word seen ``min_count`` times, every training character, and the tags in
        sorted order (O first for entity tags, so its index is the same in every run)."""
        counts = Counter(w.lower() if lowercase else w for words, _ in sentences for w in words)
        words = sorted(w for w, n in counts.items() if n >= min_count)
        chars = sorted({c for words, _ in sentences for w in words for c in w})
        tags = sorted({t for _, tags in sentences for t in tags}, key=lambda t: (t != "O", t))
        return cls(SPECIALS + words, SPECIALS + chars, tags, lowercase)

    def __post_init__(self) -> None:
        self.word_index = {w: i for i, w in enumerate(self.words)}
        self.char_index = {c: i for i, c in enumerate(self.chars)}
        self.tag_index = {t: i for i, t in enumerate(self.tags)}

    @property
    def vocab_size(self) -> int:
        return len(self.words)

    def to_dict(self) -> dict:
        return {"words": self.words, "chars": self.chars, "tags": self.tags, "lowercase": self.lowercase}

    @classmethod
    def from_dict(cls, data: dict) -> TagVocab:
        return cls(list(data["words"]), list(data["chars"]), list(data["tags"]), bool(data["lowercase"]))

    def encode(self, words: list[str], tags: list[str] | None = None) -> Encoded:
        """Ids of one sentence; ``tags`` must all be known (callers check, naming the file)."""
        keys = [w.lower() if self.lowercase else w for w in words]
        return Encoded(
            np.array([self.word_index.get(k, UNK) for k in keys], dtype=np.int64),
            [np.array([self.char_index.get(c, UNK) for c in w[:MAX_WORD_CHARS]], dtype=np.int64) for w in words],
            np.array([caps_class(w) for w in words], dtype=np.int64),
            np.array([self.tag_index[t] for t in tags] if tags else [0] * len(words), dtype=np.int64))

    def singletons(self, sentences: list[tuple[list[str], list[str]]]) -> np.ndarray:
        """(V,) bool: word ids seen once in training, the ones replaced by <unk> now and then."""
        counts = Counter(w.lower() if self.lowercase else w for words, _ in sentences for w in words)
        once = np.zeros(len(self.words), dtype=bool)
        for word, n in counts.items():
            if n == 1 and word in self.word_index:
                once[self.word_index[word]] = True
        return once


def collate(sentences: list[Encoded], words: list[np.ndarray] | None = None) -> TagBatch:
    """A padded batch; ``words`` replaces the sentences' word ids (after <unk> replacement)."""
    lengths = torch.tensor([len(s.words) for s in sentences], dtype=torch.int64)
    batch, steps = len(sentences), int(lengths.max())
    padded = {name: torch.zeros(batch, steps, dtype=torch.int64) for name in ("words", "caps", "tags")}
    for row, sentence in enumerate(sentences):
        size = len(sentence.words)
        row_words = sentence.words if words is None else words[row]
        padded["words"][row, :size] = torch.from_numpy(row_words)
        padded["caps"][row, :size] = torch.from_numpy(sentence.caps)
        padded["tags"][row, :size] = torch.from_numpy(sentence.tags)
    spelt = [c for s in sentences for c in s.chars]
    char_lengths = torch.tensor([max(len(c), 1) for c in spelt], dtype=torch.int64)
    chars = torch.zeros(len(spelt), int(char_lengths.max()), dtype=torch.int64)
    for row, word in enumerate(spelt):
        chars[row, :len(word)] = torch.from_numpy(word)
    return TagBatch(padded["words"], padded["caps"], padded["tags"], lengths, chars, char_lengths)
