"""Exploding gradients: a vanilla RNN language model trained with and without clipping.

Plain SGD at a high learning rate, as in Pascanu et al. (2013): without clipping a
few huge gradients throw the weights far off (loss spikes, sometimes NaN); clipping
the global norm caps every step's size and keeps training smooth.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from rnnkit.data.batching import StreamBatches, compact_ids
from rnnkit.data.corpora import read_corpus
from rnnkit.data.tokenizers import CharTokenizer
from rnnkit.experiments.report import format_table, save
from rnnkit.nn import detach_state
from rnnkit.tasks.lm.model import LanguageModel
from rnnkit.tasks.sections import ModelConfig


def train(ids: np.ndarray, vocab: int, clip: float, steps: int, lr: float, seed: int) -> list[float]:
    """Per-step training losses (NaN from the first non-finite one on)."""
    torch.manual_seed(seed)
    model = LanguageModel(vocab, ModelConfig(cell="rnn", hidden_size=256, num_layers=1, embedding_size=64))
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    batches = StreamBatches(ids, 32, 100)
    losses, state = [], None
    for step in range(steps):
        x, y, new_epoch = batches.batch(step)
        logits, state = model(x, None if new_epoch else state)
        state = detach_state(state)
        loss = F.cross_entropy(logits.flatten(0, 1), y.flatten())
        if not torch.isfinite(loss):
            return losses + [math.nan] * (steps - step)
        optimizer.zero_grad()
        loss.backward()
        if clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
        losses.append(loss.item())
    return losses


def spikes(losses: list[float]) -> int:
    """Steps whose loss jumps 50% above the median of the 20 before."""
    values = np.asarray(losses)
    return int(sum(values[t] > 1.5 * np.median(values[t - 20:t]) for t in range(20, len(values))
                   if np.isfinite(values[t])))


def run(data: list[str], out: Path, quick: bool) -> dict:
    steps = 150 if quick else 1500
    text = read_corpus(data, max_chars=500_000)
    tokenizer = CharTokenizer.fit(text)
    ids = compact_ids(tokenizer.encode(text), tokenizer.vocab_size)
    results: dict = {"steps": steps, "lr": 2.0, "runs": {}}
    rows = []
    for clip in (0.0, 1.0):
        losses = train(ids, tokenizer.vocab_size, clip, steps, lr=2.0, seed=0)
        finite = [v for v in losses if math.isfinite(v)]
        name = f"clip {clip:g}" if clip else "no clipping"
        results["runs"][name] = losses
        first_nan = next((i for i, v in enumerate(losses) if not math.isfinite(v)), None)
        rows.append([name, spikes(losses), "never" if first_nan is None else first_nan,
                     float(np.mean(finite[-20:])) if finite else math.nan, float(max(finite, default=math.nan))])
    table = format_table(["run", "loss spikes", "first NaN step", "final loss", "worst loss"], rows)
    save(out, "clipping", f"vanilla RNN, SGD lr 2.0, {steps} steps on {', '.join(data)}", table, results,
         _figure(results))
    return results


def _figure(results: dict):
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    figure, ax = plt.subplots(figsize=(7, 4))
    for name, losses in results["runs"].items():
        ax.plot(losses, label=name, linewidth=0.8)
    ax.set_xlabel("step")
    ax.set_ylabel("training loss (nats/char)")
    ax.set_yscale("log")
    ax.legend()
    ax.grid(True, alpha=0.3)
    return figure
