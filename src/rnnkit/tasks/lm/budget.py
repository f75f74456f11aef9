"""The language model's defaults for a budget and a corpus: two small measured tables.

What a budget buys splits in two. The minutes decide how big a model can be trained
far enough (a wider LSTM costs more per step); the minutes per megabyte of training
text decide how many passes it makes, and so whether it overfits and needs the
regularisers. Each row names the measurement in docs/tuning.md that chose it; the
chosen row is printed at the start of a run and stored in its ``config.json``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from rnnkit.tasks.choices import Choice

MEGABYTE = 1_000_000


@dataclass(frozen=True)
class Row:
    """Settings for every budget (or ``minutes`` per MB) up to ``up_to``."""

    up_to: float
    settings: dict[str, Any]
    why: str


# By the budget: the width the minutes can train (1x512 measured best at 1, 2 and 5 minutes;
# 1x768 with the regularisers beat it at 10: 1.453 against 1.499 nats/char, docs/tuning.md).
BY_MINUTES = (
    Row(5.0, {"hidden_size": 512}, "budgets up to 5 minutes train the 1x512 LSTM furthest"),
    Row(math.inf, {"hidden_size": 768}, "budgets over 5 minutes train a 1x768 LSTM"),
)
# By the minutes per MB of text, i.e. about how many passes the run makes over it: Tiny
# Shakespeare (1 MB) overfits the 1x512 model between 5 and 10 minutes of a 2-core CPU.
BY_PASSES = (
    Row(5.0, {"dropout": 0.0, "weight_drop": 0.0, "locked_dropout": 0.0},
        "few passes over the text: no regularisation"),
    Row(math.inf, {"weight_drop": 0.3, "locked_dropout": 0.15},
        "many passes over the text: weight drop and locked dropout"),
)


def row_for(rows: tuple[Row, ...], value: float) -> Row:
    return next(row for row in rows if value <= row.up_to)


def budget_choices(minutes: float, chars: int, given: set[str]) -> list[Choice]:
    """The table's settings for ``minutes`` of training on ``chars`` characters, less what was given.

    A run limited by steps alone (``minutes`` 0) keeps the smallest rows' settings."""
    megabytes = max(chars / MEGABYTE, 1e-3)
    per_mb = minutes / megabytes
    size, passes = row_for(BY_MINUTES, minutes), row_for(BY_PASSES, per_mb)
    what = f"{minutes:g} minutes, {megabytes:.1f} MB of text ({per_mb:.2g} min/MB)"
    chosen = [Choice(name, value, f"{what}: {row.why}")
              for row in (size, passes) for name, value in row.settings.items()]
    return [choice for choice in chosen if choice.field not in given]
