"""Language models at an equal time budget: depth (1-3 layers) and cell type (RNN, LSTM, GRU).

Each model trains with the usual pipeline for the same number of seconds of
training time on the same split, then is scored on the whole validation split.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

from rnnkit.experiments.report import format_table, save
from rnnkit.tasks.lm import run as lm_run
from rnnkit.tasks.sections import CELL_LEARNING_RATE, DataConfig, ModelConfig
from rnnkit.train.config import TrainConfig

GATES = {"rnn": 1, "lstm": 4, "gru": 3}
EMBED = 64


def equal_parameter_hidden(cell: str, lstm_hidden: int) -> int:
    """The hidden size giving ``cell`` as many recurrent parameters as an LSTM of ``lstm_hidden``.

    A layer has G*H*(E + H + 2) parameters (two bias vectors); solve for H.
    """
    target = 4 * lstm_hidden * (EMBED + lstm_hidden + 2)
    b = EMBED + 2
    return round((-b + math.sqrt(b * b + 4 * target / GATES[cell])) / 2)


def train_for(data: list[str], model: ModelConfig, seconds: float, work: Path, name: str) -> dict:
    lr = CELL_LEARNING_RATE.get(model.cell, TrainConfig.lr)
    train_config = TrainConfig(minutes=seconds / 60, eval_every=10**9, sample_length=10, lr=lr)
    data_config = DataConfig(max_chars=1_000_000)
    run, final = lm_run.train(data, model, train_config, data_config, str(work / name), "cpu", show_progress=False)
    parameters = sum(p.numel() for p in lm_run.load(run).model.recurrent.parameters())
    chars = final["step"] * data_config.batch_size * data_config.seq_len
    return {**final, "parameters": parameters, "chars_per_s": chars / max(final["elapsed"], 1e-9), "lr": lr}


def depth(data: list[str], out: Path, quick: bool) -> dict:
    seconds = 2 if quick else 300
    hidden = 128 if quick else 384
    results: dict = {"seconds": seconds, "hidden": hidden, "layers": {}}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for layers in (1, 2, 3):
            model = ModelConfig(hidden_size=hidden, num_layers=layers, dropout=0.0)
            result = train_for(data, model, seconds, Path(tmp), f"layers{layers}")
            results["layers"][layers] = result
            rows.append([layers, result["step"], result["bits_per_char"], result["char_perplexity"],
                         round(result["chars_per_s"])])
    table = format_table(["layers", "steps", "val bits/char", "val perplexity/char", "chars/s"], rows)
    save(out, "depth", f"LSTM depth at {seconds}s of training each, hidden {hidden}, on {', '.join(data)}",
         table, results, _bar_figure({f"{k} layer{'s' if k > 1 else ''}": v for k, v in results["layers"].items()}))
    return results


def cells(data: list[str], out: Path, quick: bool) -> dict:
    seconds = 2 if quick else 300
    lstm_hidden = 128 if quick else 384
    results: dict = {"seconds": seconds, "cells": {}}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for cell in GATES:
            hidden = equal_parameter_hidden(cell, lstm_hidden)
            model = ModelConfig(cell=cell, hidden_size=hidden, num_layers=1, embedding_size=EMBED)
            result = train_for(data, model, seconds, Path(tmp), cell)
            results["cells"][cell] = result
            rows.append([cell, hidden, result["parameters"], result["lr"], result["step"],
                         result["bits_per_char"], round(result["chars_per_s"])])
    table = format_table(["cell", "hidden", "recurrent params", "lr", "steps", "val bits/char", "chars/s"], rows)
    save(out, "cells", f"cells at ~equal parameters and {seconds}s of training each, on {', '.join(data)}",
         table, results, _bar_figure(results["cells"]))
    return results


def _bar_figure(results: dict):
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5))
    names = [str(k) for k in results]
    left.bar(names, [r["bits_per_char"] for r in results.values()])
    left.set_ylabel("validation bits per character")
    right.bar(names, [r["chars_per_s"] for r in results.values()], color="tab:orange")
    right.set_ylabel("training characters per second")
    for ax in (left, right):
        ax.grid(True, axis="y", alpha=0.3)
    figure.tight_layout()
    return figure
