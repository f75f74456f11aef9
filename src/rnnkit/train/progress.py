"""The training progress bar: steps or seconds of the budget, loss, last validation and throughput."""

from __future__ import annotations

import sys
import time
from typing import Any

from tqdm import tqdm

REFRESH_S = 0.25  # redraw at most this often: a tiny model takes thousands of steps a second


class TrainingBar:
    """A tqdm bar over the step budget, or over the time budget when there is no step limit."""

    def __init__(self, bar: tqdm, by_steps: bool) -> None:
        self.bar, self.by_steps = bar, by_steps
        self._last_refresh = 0.0

    def update_to(self, step: int, elapsed: float, loss: float, rate: float, task: Any, last_eval: dict) -> None:
        self.bar.n = step if self.by_steps else min(elapsed, self.bar.total)
        val = task.describe(last_eval, short=True) if last_eval else ""
        self.bar.set_postfix_str(f"loss {loss:.3f}" + (f" val {val}" if val else "")
                                 + f" {rate:,.0f} {task.unit}/s", refresh=False)
        now = time.perf_counter()
        if now - self._last_refresh > REFRESH_S:
            self.bar.refresh()
            self._last_refresh = now

    def close(self) -> None:
        self.bar.close()


def progress_bar(config: Any, step: int, elapsed: float, show: bool | None) -> TrainingBar | None:
    """The bar when ``show`` (None: when stderr is a terminal), starting where a resumed run stands."""
    if not (sys.stderr.isatty() if show is None else show):
        return None
    if config.steps > 0:
        return TrainingBar(tqdm(total=config.steps, initial=step, unit="step", dynamic_ncols=True), True)
    total = round(config.minutes * 60)
    return TrainingBar(tqdm(total=total, initial=min(round(elapsed), total), unit="s", dynamic_ncols=True,
                            bar_format="{l_bar}{bar}| {n:.0f}/{total}s [{elapsed}<{remaining}{postfix}]"), False)
