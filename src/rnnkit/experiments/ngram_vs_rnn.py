"""N-gram models of orders 1..10 against an RNN, on the same split of the same text.

Every n-gram smoothing that forms a proper distribution is fitted at every order
on the training split and scored on the whole validation split; the RNN (the
default LSTM) trains on the same split for a fixed time. All scores are bits per
character under ``rnnkit eval``'s conventions. Karpathy et al. (2015) report the
comparison on War and Peace: LSTM 1.077 nats/char, 20-gram 1.195.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from rnnkit.data.split import split_corpus
from rnnkit.data.tokenizers import CharTokenizer
from rnnkit.experiments.report import format_table, save
from rnnkit.ngram import NGramLM, from_text

SMOOTHINGS = {"kn": {}, "backoff": {}, "add-delta": {"delta": 0.01}}
VAL_FRACTION = 0.1


def run(data: list[str], out: Path, quick: bool, minutes: float | None = None) -> dict:
    orders = range(1, 7) if quick else range(1, 11)
    minutes = minutes if minutes is not None else (0.15 if quick else 5.0)
    train_text, val_text = split_corpus(data, "utf-8", 0, VAL_FRACTION)  # as DataConfig's defaults do
    tokenizer = CharTokenizer.fit(train_text)
    train, validation = from_text(train_text, tokenizer, "stream"), from_text(val_text, tokenizer, "stream")
    results: dict = {"data": data, "orders": list(orders), "ngram": {}, "fit_seconds": {}}
    for name, options in SMOOTHINGS.items():
        scores, seconds = [], []
        for order in orders:
            started = time.perf_counter()
            model = NGramLM(order, name, **options).fit(train, tokenizer.vocab_size)
            scores.append(model.score(validation)["bits_per_char"])
            seconds.append(time.perf_counter() - started)
        results["ngram"][name] = scores
        results["fit_seconds"][name] = seconds
    results["rnn"] = train_rnn(data, minutes, quick)
    rows = [[order, *(results["ngram"][name][i] for name in SMOOTHINGS),
             min(SMOOTHINGS, key=lambda name, i=i: results["ngram"][name][i])] for i, order in enumerate(orders)]
    best = min((score, name, order) for name, scores in results["ngram"].items()
               for order, score in zip(orders, scores, strict=True))
    results["best_ngram"] = {"bits_per_char": best[0], "smoothing": best[1], "order": best[2]}
    rnn = results["rnn"]
    table = format_table(["order", *(f"{n} bits/char" for n in SMOOTHINGS), "best"], rows)
    table += (f"\nRNN ({rnn['model']}, {minutes:g} min, {rnn['step']} steps): {rnn['bits_per_char']:.4g} bits/char; "
              f"best n-gram: {best[1]} order {best[2]}, {best[0]:.4g}")
    save(out, "ngram-vs-rnn", f"validation bits per character on {', '.join(data)} (last {VAL_FRACTION:g})",
         table, results, _figure(results))
    return results


def train_rnn(data: list[str], minutes: float, quick: bool) -> dict:
    from rnnkit.tasks.lm import run as lm_run
    from rnnkit.tasks.sections import DataConfig, ModelConfig
    from rnnkit.train.config import TrainConfig

    model = ModelConfig(hidden_size=128) if quick else ModelConfig(dropout=0.25 if minutes > 5 else 0.0)
    train_config = TrainConfig(minutes=minutes, eval_every=10**9, sample_length=10)
    with tempfile.TemporaryDirectory() as tmp:
        _, final = lm_run.train(data, model, train_config, DataConfig(val_fraction=VAL_FRACTION),
                                str(Path(tmp) / "rnn"), "cpu", show_progress=False)
    return {"bits_per_char": final["bits_per_char"], "step": final["step"], "minutes": minutes,
            "model": f"{model.num_layers}x{model.hidden_size} {model.cell}"}


def _figure(results: dict):
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    figure, ax = plt.subplots(figsize=(6.5, 4))
    for name, scores in results["ngram"].items():
        ax.plot(results["orders"], scores, marker="o", label=f"{name} n-gram")
    rnn = results["rnn"]
    ax.axhline(rnn["bits_per_char"], color="black", linestyle="--",
               label=f"RNN, {rnn['model']}, {rnn['minutes']:g} min")
    ax.set_xlabel("n-gram order")
    ax.set_ylabel("validation bits per character")
    ax.set_ylim(top=min(max(max(s) for s in results["ngram"].values()), 6.0) + 0.2)
    ax.grid(True, alpha=0.3)
    ax.legend()
    return figure
