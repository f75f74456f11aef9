"""How many steps back can each cell remember? Two synthetic long-range tasks.

recall: a symbol (one of 8) is shown, then L - 1 random symbols from the same 8, then
a query mark; the network must name the first symbol (chance 1/8). Because the
distractors look like the answer, a network that cannot shut its input out keeps
overwriting what it should remember. adding (Hochreiter &
Schmidhuber 1997): L (value, marker) pairs with two marked values; the network
must output their sum (success when its mean squared error is under 0.01; always
answering 1.0 scores about 0.17). RNN, LSTM and GRU get about the same number of
parameters and the same training steps.

The vanilla RNN runs twice: with rnnkit's initialisation (orthogonal recurrent
weights) and with min-char-rnn's (every weight drawn from N(0, 0.01^2)), the
setting the lectures' "5-10 steps of memory" comes from. The GRU also runs with
its update gate biased to 2 (z = 0.88 at the start), the GRU's analogue of the
LSTM's forget-gate bias.
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
# name -> (cell, initialisation)
VARIANTS = {
    "rnn": ("rnn", "rnnkit"),
    "rnn, N(0,0.01) init": ("rnn", "small"),
    "lstm": ("lstm", "rnnkit"),
    "gru": ("gru", "rnnkit"),
    "gru, update bias 2": ("gru", "update-bias"),
}
QUICK_VARIANTS = ("rnn", "rnn, N(0,0.01) init", "lstm")


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

    def __init__(self, cell: str, inputs: int, outputs: int, init: str = "rnnkit") -> None:
        super().__init__()
        self.recurrent = FusedRecurrent(cell, inputs, HIDDEN[cell])
        self.out = nn.Linear(HIDDEN[cell], outputs)
        with torch.no_grad():
            if init == "small":
                for name, weight in self.named_parameters():
                    if "weight" in name:
                        nn.init.normal_(weight, 0.0, 0.01)
                    else:
                        nn.init.zeros_(weight)
            elif init == "update-bias":  # GRU gates are r, z, n; h' = (1 - z) n + z h
                hidden = HIDDEN[cell]
                self.recurrent.state_dict()["bias_ih_l0"][hidden:2 * hidden] = 2.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.recurrent(x)
        return self.out(out[:, -1])


def train_and_score(task: str, variant: str, lag: int, steps: int, seed: int) -> float:
    """Accuracy (recall) or mean squared error (adding) on fresh data after ``steps`` Adam steps."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    make = recall_batch if task == "recall" else adding_batch
    sample_x, _ = make(lag, 2, rng)
    cell, init = VARIANTS[variant]
    model = Reader(cell, sample_x.shape[-1], SYMBOLS if task == "recall" else 1, init)
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


def plan(quick: bool) -> dict[str, tuple[tuple[str, ...], int]]:
    """task -> (variants, training steps). Nobody learns the adding problem in a few hundred
    steps, so it gets more steps and only the three cells as rnnkit initialises them."""
    if quick:
        return {"recall": (QUICK_VARIANTS, 400)}
    return {"recall": (tuple(VARIANTS), 600), "adding": (("rnn", "lstm", "gru"), 1000)}


def run(data: list[str], out: Path, quick: bool) -> dict:
    lags = (5, 50) if quick else (5, 10, 20, 50, 100, 200)
    seeds = (1, 2, 3) if quick else (1, 2)
    results: dict = {"lags": list(lags), "seeds": list(seeds), "hidden": HIDDEN, "steps": {},
                     "scores": {}, "per_seed": {}}
    rows = []
    for task, (variants, steps) in plan(quick).items():
        results["steps"][task] = steps
        for variant in variants:
            per_seed = [[train_and_score(task, variant, lag, steps, seed=1000 * seed + lag) for seed in seeds]
                        for lag in lags]
            scores = [float(np.mean(values)) for values in per_seed]
            results["scores"].setdefault(task, {})[variant] = scores
            results["per_seed"].setdefault(task, {})[variant] = per_seed
            rows.append([task, steps, variant, *scores])
    metric = "accuracy (recall; chance 0.125) / mean squared error (adding; 0.17 = guessing)"
    table = format_table(["task", "steps", "model", *(f"L={lag}" for lag in lags)], rows)
    save(out, "memory", f"memory length: {metric}, mean of {len(seeds)} seeds, ~equal parameters",
         table, results, _figure(results))
    return results


def _figure(results: dict):
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    tasks = list(results["scores"])
    figure, axes = plt.subplots(1, len(tasks), figsize=(5.5 * len(tasks), 4), squeeze=False)
    colours = {variant: f"C{i}" for i, variant in enumerate(VARIANTS)}  # one colour per model in both panels
    for ax, task in zip(axes[0], tasks, strict=True):
        for variant, scores in results["scores"][task].items():
            ax.plot(results["lags"], scores, marker="o", label=variant, color=colours.get(variant))
        if task == "recall":
            ax.axhline(1 / SYMBOLS, color="grey", linestyle=":", label="chance")
        ax.set_xscale("log")
        ax.set_xlabel("lag L (steps between the information and the question)")
        ax.set_ylabel("test accuracy" if task == "recall" else "test mean squared error")
        ax.set_title(f"{task}, {results['steps'][task]} steps")
        ax.grid(True, alpha=0.3)
        ax.legend()
    return figure
