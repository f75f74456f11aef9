"""The translator's defaults that depend on its data and budget: how a batch is cut and how
wide the model is, from measured runs.

Batches of a fixed number of pairs pad every short pair to the longest one drawn with it;
batches of about as many tokens as 64 average pairs hold, cut from pairs sorted by length,
spend the step on real tokens instead. On eng-fra, French to English, 5 minutes, fp32,
2-core Zen 4, they trained 1.31x the target tokens a second and scored 31.15 greedy test
sacreBLEU against 27.15 for 64-pair batches (docs/tuning.md, "Translator defaults"). The
choice is printed at the start of a run and stored in its ``config.json``.

A wider recurrent layer costs more per step and learns more per step; on two CPU cores
1x512 is the balance that trained furthest at every budget measured: against 1x256 at 1,
2, 5, 10, 20 and 30 minutes (French to English, greedy test BLEU 5.68 against 2.43 at 1
minute, 16.15 against 11.50 at 2, 38.31 against 34.97 at 5; beam 5 51.60 against 48.97 at
20, 53.13 against 51.39, and 49.15 for 2x256, at 30) and against 1x768 at 60 (greedy
52.33 against 51.78; docs/tuning.md, "The translator's width by budget"). A budget in
steps keeps the parser's 1x256.
"""

from __future__ import annotations

import math

import numpy as np

from rnnkit.tasks.choices import Choice, Row, row_choices, row_for

BATCHING_FLAGS = {"batch_tokens", "batch_size"}  # a user who set either chose the batching


def batching_choices(costs: np.ndarray, batch_size: int, given: set[str]) -> list[Choice]:
    """``--batch-tokens`` worth ``batch_size`` pairs of the mean cost (source, target and start
    tokens) of the training split, unless the user chose how to batch."""
    if given & BATCHING_FLAGS or len(costs) == 0:
        return []
    tokens = max(int(round(batch_size * float(np.mean(costs)))), 1)
    return [Choice("batch_tokens", tokens, f"{batch_size} training pairs of {np.mean(costs):.1f} tokens on "
                   "average, sorted by length so little of a batch is padding")]


WIDTH_FLAGS = {"hidden_size", "tie_weights"}  # a tied model's width is its embedding's
# French to English, full eng-fra, bf16, 2-core Zen 4, Zen 5 and Intel Xeon with AMX (docs/tuning.md).
WIDTH_BY_MINUTES = (
    Row(math.inf, {"hidden_size": 512}, "1x512 trained furthest at every budget measured, 1 to 60 minutes"),
)


def width_choices(minutes: float, given: set[str]) -> list[Choice]:
    """``--hidden-size`` for a budget in minutes, unless the user chose the width or tied the
    embeddings (a budget in steps, ``minutes`` 0, keeps the default)."""
    if given & WIDTH_FLAGS or minutes <= 0:
        return []
    return row_choices(row_for(WIDTH_BY_MINUTES, minutes), f"{minutes:g} minutes", given)
