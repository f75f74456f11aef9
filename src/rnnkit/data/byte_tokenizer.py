"""Raw bytes as tokens, char-rnn's original unit: 256 symbols, nothing ever unknown.

Text reaches it decoded with ``surrogateescape``, so a file's bytes come back exactly,
valid UTF-8 or not (a kernel source with one stray Latin-1 byte is read as it is).
Its "characters" for bits per character are bytes. Id 0 stays the unused ``<unk>``, as
in every tokenizer; byte ``b`` is id ``b + 1``.
"""

from __future__ import annotations

import numpy as np

UNK = "<unk>"


def raw_bytes(text: str) -> bytes:
    return text.encode("utf-8", errors="surrogateescape")


class ByteTokenizer:
    kind = "byte"
    vocab_size = 257

    @classmethod
    def fit(cls, text: str) -> ByteTokenizer:
        return cls()

    def encode(self, text: str) -> np.ndarray:
        return np.frombuffer(raw_bytes(text), dtype=np.uint8).astype(np.int64) + 1

    def decode(self, ids) -> str:
        """Printable text: bytes that are not UTF-8 (and id 0) show as U+FFFD."""
        values = np.asarray(ids, dtype=np.int64)
        return bytes(np.clip(values - 1, 0, 255).astype(np.uint8)).decode("utf-8", errors="replace")

    def pieces(self, text: str) -> list[str]:
        """A character for the first byte of its UTF-8 form and nothing for the others."""
        return [piece for char in text for piece in [char] + [""] * (len(raw_bytes(char)) - 1)]

    def unknown(self, text: str) -> list[str]:
        return []

    def token_chars(self, ids) -> int:
        return len(np.asarray(ids))

    def token_names(self) -> list[str]:
        return [UNK, *(f"<0x{b:02X}>" for b in range(256))]

    def to_dict(self) -> dict:
        return {"kind": self.kind}
