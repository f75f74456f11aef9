"""The one train/validation split every model of a text shares: by position, the last part held out.

RNNs and n-gram models call the same function with the same settings, so "the
RNN beats the 5-gram" compares two models on the very same characters.
"""

from __future__ import annotations

from rnnkit.data.corpora import read_corpus
from rnnkit.errors import UserError


def split_corpus(sources: list[str], encoding: str, max_chars: int, val_fraction: float,
                 errors: str | None = None) -> tuple[str, str]:
    """(training text, validation text): the last ``val_fraction`` of the corpus is validation."""
    text = read_corpus(sources, encoding, max_chars or None, errors)
    cut = int(round(len(text) * (1 - val_fraction)))
    train_text, val_text = text[:cut], text[cut:]
    if len(train_text.strip()) == 0 or len(val_text) < 2:
        raise UserError(f"{', '.join(sources)}: {len(text)} characters are too few to split into training "
                        "and validation text; give a longer text")
    return train_text, val_text


def start_text_of(train_text: str) -> str:
    """What an unprimed sample starts from: a newline when the text has lines."""
    return "\n" if "\n" in train_text else train_text[0]
