"""The language model's defaults for a budget and a corpus: two small measured tables.

What a budget buys splits in two. The minutes decide how big a model can be trained
far enough (a wider LSTM costs more per step); the passes the run can make over its
text decide whether it overfits and needs the regularisers. The passes come from a
timed training step of the chosen width on this machine, so a faster CPU (or a GPU)
that makes more passes in the same minutes gets the regularisers sooner. Each row
names the measurement in docs/tuning.md that chose it; the chosen rows are printed at
the start of a run and stored in its ``config.json``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from rnnkit.tasks.choices import Choice, Row, row_choices, row_for

MEGABYTE = 1_000_000
PASSES_WITHOUT_REGULARISERS = 8.0  # between 3.4 (fine as it is) and 15 (overfits): see BY_PASSES


# By the budget: the width the minutes can train. With the regularisers the 1x512 LSTM beat
# 1x768 at 5 minutes (1.455 against 1.477 nats/char) and at 10 (1.424 against 1.456,
# docs/tuning.md); longer budgets are the table's extrapolation to the wider model.
BY_MINUTES = (
    Row(10.0, {"hidden_size": 512}, "budgets up to 10 minutes train the 1x512 LSTM furthest"),
    Row(math.inf, {"hidden_size": 768}, "budgets over 10 minutes train a 1x768 LSTM"),
)
# By the passes over the text the budget allows: 1 minute of the 1x512 model makes 3.4
# passes over Tiny Shakespeare on a 2-core Zen 4 and needs nothing; 5 minutes make 15 and
# overfit without weight drop and locked dropout; at 10 minutes activation and temporal
# activation regularisation took them from 1.445 to 1.396 nats/char in one session
# (docs/tuning.md, "the budget table").
BY_PASSES = (
    Row(PASSES_WITHOUT_REGULARISERS, {"dropout": 0.0, "weight_drop": 0.0, "locked_dropout": 0.0},
        "few passes over the text: no regularisation"),
    Row(math.inf, {"weight_drop": 0.3, "locked_dropout": 0.15, "ar": 2.0, "tar": 1.0},
        "many passes over the text: weight drop, locked dropout, AR and TAR"),
)


@dataclass(frozen=True)
class Pace:
    """How fast a run goes through its text on this machine."""

    step_seconds: float
    chars_per_step: float

    def passes(self, minutes: float, chars: int) -> float:
        """About how many times ``minutes`` of training read a text of ``chars`` characters."""
        return minutes * 60 / max(self.step_seconds, 1e-9) * self.chars_per_step / max(chars, 1)


def width_choices(minutes: float, given: set[str]) -> list[Choice]:
    """The width the budget can train (a step budget, ``minutes`` 0, keeps the smallest row)."""
    return row_choices(row_for(BY_MINUTES, minutes), f"{minutes:g} minutes", given)


def regulariser_choices(minutes: float, chars: int, pace: Pace, given: set[str]) -> list[Choice]:
    """The regularisers for the passes ``minutes`` at ``pace`` make over ``chars`` characters."""
    passes = pace.passes(minutes, chars)
    row = row_for(BY_PASSES, passes)
    what = (f"{minutes:g} minutes at {pace.step_seconds * 1e3:.0f} ms a step make about {passes:.2g} passes "
            f"over {chars / MEGABYTE:.2g} MB")
    return row_choices(row, what, given)
