"""How many steps back can each cell remember? Two synthetic long-range tasks.

recall: a symbol (one of 8) is shown, then L - 1 random symbols from the same 8, then
a query mark; the network must name the first symbol (chance 1/8). Because the
distractors look like the answer, a network that cannot shut its input out keeps
overwriting what it should remember. adding (Hochreiter &
Schmidhuber 1997): L (value, marker) pairs with two marked values; the network
must output their sum (success when its mean squared error is under 0.01; always
answering 1.0 scores about 0.17). RNN, LSTM and GRU get about the same number of
parameters and the same training steps.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from rnnkit.experiments.report import format_table, save
from rnnkit.nn import FusedRecurrent

SYMBOLS = 8
# hidden sizes giving ~equal recurrent parameter counts: 4*64*(I+64) ~ 3*74*(I+74) ~ 128*(I+128)
HIDDEN = {"rnn": 128, "lstm": 64, "gru": 74}


def recall_batch(lag: int, batch: int, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(one-hot inputs (B, lag+1, V), targets (B,)): the symbol, lag-1 distractors, the query mark."""
    tokens = rng.integers(0, SYMBOLS, (batch, lag + 1))
    tokens[:, -1] = SYMBOLS  # the query mark
    return F.one_hot(torch.as_tensor(tokens), SYMBOLS + 1).float(), torch.as_tensor(tokens[:, 0])


def adding_batch(lag: int, batch: int, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(inputs (B, lag, 2), targets (B,)): one marker in the first half, one in the second."""
    values = rng.random((batch, lag))
    markers = np.zeros((batch, lag))
    half = max(lag // 2, 1)
    first = rng.integers(0, half, batch)
    second = rng.integers(half, lag, batch) if lag > 1 else first
    markers[np.arange(batch), first] = 1
    markers[np.arange(batch), second] = 1
    targets = (values * markers).sum(1)
    inputs = np.stack([values, markers], axis=-1)
    return torch.as_tensor(inputs, dtype=torch.float32), torch.as_tensor(targets, dtype=torch.float32)


class Reader(nn.Module):
    """Recurrent layer, then a linear read-out of the last state."""

    def __init__(self, cell: str, inputs: int, outputs: int) -> None:
        super().__init__()
        self.recurrent = FusedRecurrent(cell, inputs, HIDDEN[cell])
        self.out = nn.Linear(HIDDEN[cell], outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.recurrent(x)
        return self.out(out[:, -1])


def train_and_score(task: str, cell: str, lag: int, steps: int, seed: int) -> float:
    """Accuracy (recall) or mean squared error (adding) on fresh data after ``steps`` Adam steps."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    make = recall_batch if task == "recall" else adding_batch
    sample_x, _ = make(lag, 2, rng)
    model = Reader(cell, sample_x.shape[-1], SYMBOLS if task == "recall" else 1)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(steps):
        x, y = make(lag, 32, rng)
        out = model(x)
        loss = F.cross_entropy(out, y) if task == "recall" else F.mse_loss(out[:, 0], y)
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
    with torch.no_grad():
        x, y = make(lag, 1000, rng)
        out = model(x)
        if task == "recall":
            return float((out.argmax(-1) == y).float().mean())
        return float(F.mse_loss(out[:, 0], y))


def run(data: list[str], out: Path, quick: bool) -> dict:
    lags = (5, 30) if quick else (5, 10, 20, 50, 100, 200)
    steps = 300 if quick else 2000
    tasks = ("recall",) if quick else ("recall", "adding")
    results: dict = {"lags": list(lags), "steps": steps, "hidden": HIDDEN, "scores": {}}
    rows = []
    for task in tasks:
        for cell in ("rnn", "lstm", "gru"):
            scores = [train_and_score(task, cell, lag, steps, seed=lag) for lag in lags]
            results["scores"].setdefault(task, {})[cell] = scores
            rows.append([task, cell, *scores])
    metric = "accuracy (recall; chance 0.125) / mean squared error (adding; 0.17 = guessing)"
    table = format_table(["task", "cell", *(f"L={lag}" for lag in lags)], rows)
    save(out, "memory", f"memory length: {metric}, {steps} steps, ~equal parameters", table, results,
         _figure(results))
    return results


def _figure(results: dict):
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    tasks = list(results["scores"])
    figure, axes = plt.subplots(1, len(tasks), figsize=(5.5 * len(tasks), 4), squeeze=False)
    for ax, task in zip(axes[0], tasks, strict=True):
        for cell, scores in results["scores"][task].items():
            ax.plot(results["lags"], scores, marker="o", label=cell)
        ax.set_xscale("log")
        ax.set_xlabel("lag L (steps between the information and the question)")
        ax.set_ylabel("test accuracy" if task == "recall" else "test mean squared error")
        ax.set_title(task)
        ax.grid(True, alpha=0.3)
        ax.legend()
    return figure
