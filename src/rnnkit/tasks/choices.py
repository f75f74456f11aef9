"""Automatic choices: defaults that depend on the data or the budget, each explained in one line.

A flag the user gave always wins. Every other choice made for them is a ``Choice``,
printed by ``explain`` in one format for every task and saved in the run's
``config.json`` under ``"auto"``, so a run says why it trained as it did.
"""

from __future__ import annotations

import dataclasses
import math
import sys
from collections import Counter
from typing import Any

from rnnkit.config import flag_name

WORDS_FOR_WORD_TOKENS = 3.0     # lines averaging this many words or more read as words
SMALL_DATA = 50_000             # training examples below which the small word model is chosen
# measured on SST-2 (docs/tuning.md): 256 wide beat 128 on three seeds; the large one is not measured yet
WORD_MODEL_SMALL = {"embedding_size": 256, "hidden_size": 256, "dropout": 0.5, "lr": 2e-3, "cell": "gru"}
WORD_MODEL_LARGE = {"embedding_size": 512, "hidden_size": 512, "dropout": 0.3, "lr": 2e-3, "cell": "gru"}


@dataclasses.dataclass(frozen=True)
class Choice:
    field: str
    value: Any
    why: str

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class Row:
    """One row of a measured table of defaults: its settings for every value (a budget in
    minutes, passes over the text) up to ``up_to``."""

    up_to: float
    settings: dict[str, Any]
    why: str


def row_for(rows: tuple[Row, ...], value: float) -> Row:
    return next(row for row in rows if value <= row.up_to)


def row_choices(row: Row, what: str, given: set[str]) -> list[Choice]:
    """The row's settings the user did not give, each explained by ``what`` chose the row."""
    return [Choice(name, value, f"{what}: {row.why}") for name, value in row.settings.items() if name not in given]


def explain(choice: Choice) -> str:
    """The one format: ``auto: --tokenizer word (lines average 19.1 words; pass --tokenizer to choose)``."""
    return f"auto: {_shown(choice)} ({choice.why}; pass {flag_name(choice.field)} to choose)"


def explain_grouped(choices: list[Choice]) -> list[str]:
    """``explain`` with the choices that share a reason on one line (a table row's settings)."""
    lines: list[tuple[str, list[Choice]]] = []
    for choice in choices:
        if lines and lines[-1][0] == choice.why:
            lines[-1][1].append(choice)
        else:
            lines.append((choice.why, [choice]))
    if all(len(group) == 1 for _, group in lines):
        return [explain(choice) for choice in choices]
    return [f"auto: {', '.join(_shown(c) for c in group)} ({why}; pass a flag to choose)" for why, group in lines]


def _shown(choice: Choice) -> str:
    value = choice.value if not isinstance(choice.value, bool) else ("on" if choice.value else "off")
    return f"{flag_name(choice.field)} {value}"


def text_choices(texts: list[str], given: set[str], tokenizer: str) -> list[Choice]:
    """Token unit, vocabulary and model size for labelled lines, from the training split.

    Lines of a word or two (surnames, baby names) keep characters and the defaults measured
    on them; sentences (SST-2 averages 19 words) read as words, with a vocabulary of the
    words seen at least twice and the small GRU that measured best on them (docs/tuning.md).
    ``tokenizer`` is the configured one, which decides when the user gave it."""
    words_per_line = sum(len(t.split()) for t in texts) / max(len(texts), 1)
    unit = tokenizer if "tokenizer" in given else ("word" if words_per_line >= WORDS_FOR_WORD_TOKENS else "char")
    if unit != "word":
        return []
    chosen = [Choice("tokenizer", "word", f"lines average {words_per_line:.1f} words")]
    counts = Counter(word for text in texts for word in text.split())
    recurring = sum(1 for n in counts.values() if n >= 2)
    vocab = min(max(1000, int(math.ceil(recurring / 1000) * 1000)), 20_000)
    chosen.append(Choice("vocab_size", vocab, f"{recurring:,} words occur at least twice"))
    size, model = ("small", WORD_MODEL_SMALL) if len(texts) < SMALL_DATA else ("large", WORD_MODEL_LARGE)
    why = f"{len(texts):,} training lines of words: the {size} word model"
    chosen += [Choice(name, value, why) for name, value in model.items()]
    return [choice for choice in chosen if choice.field not in given]


def apply(choices: list[Choice], *sections: Any) -> list[Any]:
    """Each section with the chosen values of its fields."""
    updated = []
    for part in sections:
        names = {f.name for f in dataclasses.fields(part)}
        updated.append(dataclasses.replace(part, **{c.field: c.value for c in choices if c.field in names}))
    return updated


def chosen_for(examples: list[tuple[str, str]], given: set[str] | None, tokenizer: str) -> list[Choice]:
    """``text_choices`` for a labelled training split, each printed; none when ``given`` is None
    (a caller from Python that configured everything)."""
    choices = [] if given is None else text_choices([text for text, _ in examples], given, tokenizer)
    for choice in choices:
        print(explain(choice), file=sys.stderr)
    return choices
