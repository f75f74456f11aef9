"""Characters, bytes, words and BPE: text <-> integer ids, saved with the model.

Every tokenizer reserves id 0 for tokens it never saw in training, normalises
text to Unicode NFC (so "é" typed two ways is one character), and serialises to a
plain JSON dict, so a checkpoint carries its vocabulary and loads without code.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator

import numpy as np

from rnnkit.data.byte_tokenizer import ByteTokenizer

UNK = "<unk>"
UNK_ID = 0  # every tokenizer numbers <unk> first
UNK_CHAR = "\ufffd"  # how a char model prints an unknown character
WORD_PATTERN = re.compile(r" ?\w+| ?[^\w\s]+|\s+(?!\S)|\s+")


def normalize(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def _code_points(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-32-le"), dtype="<u4")


class CharTokenizer:
    """One id per Unicode code point seen in training; id 0 is ``<unk>``."""

    kind = "char"

    def __init__(self, chars: list[str]) -> None:
        self.chars = sorted(set(chars))
        self._codes = np.array([ord(c) for c in self.chars], dtype=np.uint32)

    @classmethod
    def fit(cls, text: str) -> CharTokenizer:
        return cls([chr(c) for c in np.unique(_code_points(normalize(text)))])

    @property
    def vocab_size(self) -> int:
        return len(self.chars) + 1

    def encode(self, text: str) -> np.ndarray:
        codes = _code_points(normalize(text))
        index = np.searchsorted(self._codes, codes)
        index_clipped = np.minimum(index, max(len(self._codes) - 1, 0))
        known = self._codes[index_clipped] == codes if len(self._codes) else np.zeros(len(codes), bool)
        return np.where(known, index + 1, 0).astype(np.int64)

    def decode(self, ids) -> str:
        return "".join(self.chars[i - 1] if i > 0 else UNK_CHAR for i in np.asarray(ids).tolist())

    def pieces(self, text: str) -> list[str]:
        """The text each token of ``encode(text)`` stands for, unknown ones as they were written."""
        return list(normalize(text))

    def unknown(self, text: str) -> list[str]:
        """The distinct characters of ``text`` the vocabulary lacks, in order of appearance."""
        known = set(self.chars)
        return list(dict.fromkeys(c for c in normalize(text) if c not in known))

    def token_chars(self, ids) -> int:
        return len(np.asarray(ids))

    def token_names(self) -> list[str]:
        """A distinct name per id, for files that list tokens (ARPA)."""
        return [UNK, *self.chars]

    def to_dict(self) -> dict:
        return {"kind": self.kind, "chars": self.chars}


class WordTokenizer:
    """Words with their leading space, punctuation runs and whitespace runs, so text round-trips."""

    kind = "word"

    def __init__(self, words: list[str]) -> None:
        self.words = list(words)
        self._index = {w: i + 1 for i, w in enumerate(self.words)}

    @classmethod
    def fit(cls, text: str, max_size: int = 10000, min_count: int = 1) -> WordTokenizer:
        return cls.from_counts(Counter(WORD_PATTERN.findall(normalize(text))), max_size, min_count)

    @classmethod
    def from_counts(cls, counts: Counter, max_size: int = 10000, min_count: int = 1) -> WordTokenizer:
        """The ``max_size - 1`` most frequent words (ties alphabetical), however the counts were gathered."""
        ranked = sorted((w for w, n in counts.items() if n >= min_count), key=lambda w: (-counts[w], w))
        return cls(ranked[: max_size - 1])

    @property
    def vocab_size(self) -> int:
        return len(self.words) + 1

    def encode(self, text: str) -> np.ndarray:
        return np.array([self._index.get(w, 0) for w in WORD_PATTERN.findall(normalize(text))],
                        dtype=np.int64)

    def decode(self, ids) -> str:
        return "".join(self.words[i - 1] if i > 0 else UNK for i in np.asarray(ids).tolist())

    def pieces(self, text: str) -> list[str]:
        return WORD_PATTERN.findall(normalize(text))

    def unknown(self, text: str) -> list[str]:
        return list(dict.fromkeys(w for w in WORD_PATTERN.findall(normalize(text)) if w not in self._index))

    def token_chars(self, ids) -> int:
        return len(self.decode(ids))

    def token_names(self) -> list[str]:
        return [UNK, *self.words]

    def to_dict(self) -> dict:
        return {"kind": self.kind, "words": self.words}


class BPETokenizer:
    """Byte-level BPE trained with Hugging Face ``tokenizers``: any text encodes, none is unknown."""

    kind = "bpe"

    def __init__(self, tokenizer) -> None:
        self._tokenizer = tokenizer

    @classmethod
    def fit(cls, text: str, vocab_size: int = 1000) -> BPETokenizer:
        return cls.fit_lines(text.splitlines(keepends=True) or [text], vocab_size)

    @classmethod
    def fit_lines(cls, lines: Iterable[str], vocab_size: int = 1000) -> BPETokenizer:
        """Trained from an iterator of lines: a corpus larger than memory streams through."""
        from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

        tokenizer = Tokenizer(models.BPE(unk_token=None))
        tokenizer.normalizer = normalizers.NFC()
        tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
        tokenizer.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[UNK], show_progress=False,
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
        tokenizer.train_from_iterator(lines, trainer=trainer)
        return cls(tokenizer)

    @property
    def vocab_size(self) -> int:
        return self._tokenizer.get_vocab_size()

    def encode(self, text: str) -> np.ndarray:
        return np.array(self._tokenizer.encode(text).ids, dtype=np.int64)

    def decode(self, ids) -> str:
        return self._tokenizer.decode(np.asarray(ids).tolist(), skip_special_tokens=False)

    def pieces(self, text: str) -> list[str]:
        """Each token's stretch of ``text``; where tokens split one character's bytes, the first
        token holds the character and the rest hold nothing, so the pieces join to the text."""
        found, covered = [], 0
        for start, end in self._tokenizer.encode(text).offsets:
            found.append(text[max(start, covered):end])
            covered = max(covered, end)
        return found

    def unknown(self, text: str) -> list[str]:
        return []

    def token_chars(self, ids) -> int:
        return len(self.decode(ids))

    def token_names(self) -> list[str]:
        """The byte-level alphabet's spelling of each token (Ġ for a space), which is unique."""
        return [self._tokenizer.id_to_token(i) for i in range(self.vocab_size)]

    def to_dict(self) -> dict:
        return {"kind": self.kind, "tokenizer": json.loads(self._tokenizer.to_str())}


Tokenizer = CharTokenizer | WordTokenizer | BPETokenizer


class StreamDecoder:
    """Text as generated ids arrive, one id at a time. Byte-level BPE pieces are held back until
    their bytes form whole characters; ``newline`` (a line model's ``</s>``) is written as a newline."""

    def __init__(self, tokenizer: Tokenizer, newline: int | None = None) -> None:
        self.tokenizer, self.newline = tokenizer, newline
        self.whole_tokens = tokenizer.kind not in ("bpe", "byte")
        self.pending: list[int] = []
        self.emitted = ""

    def feed(self, token: int) -> str | None:
        """The new text this id completes, or None while it waits for the rest of a character."""
        if token == self.newline:
            self.pending, self.emitted = [], ""
            return "\n"
        if self.whole_tokens:
            return self.tokenizer.decode([token])
        self.pending.append(token)
        text = self.tokenizer.decode(self.pending)
        if text.endswith("\ufffd"):
            return None
        piece, self.emitted = text[len(self.emitted):], text
        return piece


def decode_stream(tokenizer: Tokenizer, ids: Iterable[int], newline: int | None = None) -> Iterator[str]:
    """``StreamDecoder`` over an iterable of ids."""
    decoder = StreamDecoder(tokenizer, newline)
    for token in ids:
        piece = decoder.feed(token)
        if piece is not None:
            yield piece


def fit_tokenizer(kind: str, text: str, vocab_size: int) -> Tokenizer:
    """Train the named tokenizer on ``text`` (``vocab_size`` caps words and BPE merges)."""
    if kind == "byte":
        return ByteTokenizer()
    if kind == "char":
        return CharTokenizer.fit(text)
    if kind == "word":
        return WordTokenizer.fit(text, max_size=vocab_size)
    if kind == "bpe":
        return BPETokenizer.fit(text, vocab_size=vocab_size)
    raise ValueError(f"unknown tokenizer {kind!r}; choose char, byte, word or bpe")


def tokenizer_from_dict(data: dict) -> Tokenizer:
    kind = data.get("kind")
    if kind == "byte":
        return ByteTokenizer()
    if kind == "char":
        return CharTokenizer(data["chars"])
    if kind == "word":
        return WordTokenizer(data["words"])
    if kind == "bpe":
        from tokenizers import Tokenizer as HFTokenizer

        return BPETokenizer(HFTokenizer.from_str(json.dumps(data["tokenizer"])))
    raise ValueError(f"unknown tokenizer kind {kind!r}")


def encode_texts(tokenizer: Tokenizer, texts: list[str]) -> list[np.ndarray]:
    """Token ids per text. Word and BPE tokens carry their leading space, so every text gets one:
    a sentence's first word is then the same token as the word anywhere else."""
    prefix = "" if tokenizer.kind in ("char", "byte") else " "
    return [tokenizer.encode(prefix + text) for text in texts]
