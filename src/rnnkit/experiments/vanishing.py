"""How far back does the gradient reach? ||dL_T / dh_k|| against T - k, per cell.

The loss is the cross-entropy of the last step's prediction only, so every gradient
at an earlier step has travelled back through the recurrence alone. Measured on real
text at initialisation and after a short training run; for the LSTM the gradient
reaching the cell state c_k is measured too, the path the lectures credit.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from rnnkit.data.corpora import read_corpus
from rnnkit.experiments.report import format_table, save
from rnnkit.tasks.lm import run as lm_run
from rnnkit.tasks.lm.model import LanguageModel
from rnnkit.tasks.sections import DataConfig, ModelConfig
from rnnkit.train.config import TrainConfig

CELLS = ("rnn", "lstm", "gru")
LAGS = (1, 5, 10, 20, 50, 100)


def gradient_norms(model: LanguageModel, ids: torch.Tensor) -> dict[str, np.ndarray]:
    """Mean over the batch of ||dL_T/dh_k|| (and ||dL_T/dc_k||), indexed by lag T-1-k."""
    cell = model.recurrent.cells["l0"]
    x = model.embedding(ids[:, :-1])                       # (B, T, E)
    gx = cell.project_input(x)
    state = cell.initial_state(ids.shape[0], x)
    hs, cs = [], []
    for t in range(x.shape[1]):
        h, state = cell.step(gx[:, t], state)
        hs.append(h)
        if isinstance(state, tuple):
            cs.append(state[1])
    loss = F.cross_entropy(model.head(h), ids[:, -1])
    grads = torch.autograd.grad(loss, hs + cs)
    norms = {"h": torch.stack([g.norm(dim=1).mean() for g in grads[:len(hs)]]).flip(0).numpy()}
    if cs:
        norms["c"] = torch.stack([g.norm(dim=1).mean() for g in grads[len(hs):]]).flip(0).numpy()
    return norms


def trained_model(cell: str, hidden: int, data: list[str], steps: int, work: Path) -> LanguageModel:
    """Train on ``data`` with the usual pipeline (fused kernels), then reload on the unrolled cells."""
    model_config = ModelConfig(cell=cell, hidden_size=hidden, num_layers=1, embedding_size=64)
    train_config = TrainConfig(steps=steps, eval_every=max(steps, 1), lr=3e-3, sample_length=10)
    run, _ = lm_run.train(data, model_config, train_config, DataConfig(max_chars=400_000), str(work / cell),
                          "cpu", show_progress=False)
    loaded = lm_run.load(run)
    unrolled = LanguageModel(loaded.tokenizer.vocab_size, ModelConfig(**{**model_config.__dict__,
                                                                         "backend": "eager"}))
    unrolled.load_state_dict(loaded.model.state_dict())
    return unrolled


def run(data: list[str], out: Path, quick: bool) -> dict:
    length = 60 if quick else 150
    steps = 60 if quick else 1500
    hidden = 64 if quick else 256
    text = read_corpus(data, max_chars=400_000)
    results: dict = {"lags": list(range(length)), "cells": {}}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for cell in CELLS:
            torch.manual_seed(0)
            trained = trained_model(cell, hidden, data, steps, Path(tmp))
            fresh = LanguageModel(trained.embedding.num_embeddings,
                                  ModelConfig(cell=cell, hidden_size=hidden, num_layers=1, embedding_size=64,
                                              backend="eager"))
            tokenizer = lm_run.load(Path(tmp) / cell).tokenizer
            ids = torch.as_tensor(tokenizer.encode(text[-(length + 1) * 16:]).astype(np.int64))
            ids = ids[: 16 * (length + 1)].view(16, length + 1)
            for stage, model in (("init", fresh), ("trained", trained)):
                norms = gradient_norms(model, ids)
                results["cells"].setdefault(cell, {})[stage] = {k: v.tolist() for k, v in norms.items()}
                for kind, values in norms.items():
                    label = f"{cell} {'c' if kind == 'c' else 'h'}"
                    rows.append([label, stage, *(float(values[lag] / values[0]) for lag in LAGS if lag < length)])
    headers = ["state", "weights", *(f"lag {lag}" for lag in LAGS if lag < length)]
    table = format_table(headers, rows)
    save(out, "vanishing", f"||dL_T/dh_(T-lag)|| / ||dL_T/dh_T|| on {', '.join(data)}, hidden {hidden}, "
         f"{steps} training steps", table, results, _figure(results, length))
    return results


def _figure(results: dict, length: int):
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for ax, stage in zip(axes, ("init", "trained"), strict=True):
        for cell, by_stage in results["cells"].items():
            for kind, values in by_stage[stage].items():
                values = np.asarray(values)
                ax.semilogy(range(length), values / values[0], label=f"{cell} {kind}",
                            linestyle="--" if kind == "c" else "-")
        ax.set_title(f"at {'initialisation' if stage == 'init' else 'the end of training'}")
        ax.set_xlabel("lag T - k (steps back from the loss)")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("||dL_T/dh_k|| relative to lag 0")
    axes[1].legend()
    return figure
