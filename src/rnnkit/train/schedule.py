"""Linear warm-up, then cosine decay over the run's budget (steps, time, or both)."""

from __future__ import annotations

import math


def progress(step: int, elapsed: float, max_steps: int, max_seconds: float) -> float:
    """How far through its budget a run is, 0..1; with two budgets, the nearer one counts.

    A time budget makes the schedule depend on training time (validation excluded),
    so that a ten-minute run decays its learning rate over ten minutes whatever
    speed the machine has.
    """
    fractions = []
    if max_steps > 0:
        fractions.append(step / max_steps)
    if max_seconds > 0:
        fractions.append(elapsed / max_seconds)
    return min(max(fractions, default=0.0), 1.0)


def learning_rate(base: float, step: int, run_progress: float, warmup_steps: int,
                  schedule: str = "cosine", min_ratio: float = 0.1) -> float:
    """``base`` scaled by warm-up and, for 'cosine', by half a cosine from 1 to ``min_ratio``."""
    if warmup_steps > 0 and step < warmup_steps:
        return base * (step + 1) / warmup_steps
    if schedule == "constant":
        return base
    if schedule != "cosine":
        raise ValueError(f"unknown schedule {schedule!r}; choose cosine or constant")
    return base * (min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * run_progress)))
