"""Sampling speed of a 2x512 LSTM: rnnkit's generator against torch.nn stepped by hand.

Baselines in the same run: ``nn.LSTM`` fed one character at a time (its length-1
slow path) and two ``nn.LSTMCell``s. rnnkit in fp32 and in bf16 (bf16 matrix
multiplies, fp32 state). Batch 1 and batch 64; interleaved rounds, median reported;
batch 1 also as milliseconds per character (latency). Prints one table.
Targets: 5,000 chars/s at batch 1 (issue 9), 25,000 at 64.

    python benchmarks/sample_speed.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

from rnnkit.decode.rows import RowSampling, sample_rows
from rnnkit.decode.sampling import generate
from rnnkit.runtime import keep_freed_memory
from rnnkit.tasks.lm.model import LanguageModel
from rnnkit.tasks.sections import ModelConfig

VOCAB, HIDDEN, LAYERS = 65, 512, 2


def rnnkit_sampler(model, batch, length, precision):
    def run():
        generator = torch.Generator().manual_seed(0)
        prime = torch.zeros(batch, 1, dtype=torch.long)
        for _ in generate(model, prime, length, generator=generator, precision=precision):
            pass
    return run


def lstm_sampler(batch, length):
    embed, lstm, head = nn.Embedding(VOCAB, HIDDEN), nn.LSTM(HIDDEN, HIDDEN, LAYERS, batch_first=True), \
        nn.Linear(HIDDEN, VOCAB)

    @torch.no_grad()
    def run():
        generator = torch.Generator().manual_seed(0)
        token, state = torch.zeros(batch, dtype=torch.long), None
        for _ in range(length):
            out, state = lstm(embed(token)[:, None], state)
            token = sample_rows(head(out[:, 0]), [RowSampling()] * batch, [generator] * batch)
    return run


def cell_sampler(batch, length):
    embed, head = nn.Embedding(VOCAB, HIDDEN), nn.Linear(HIDDEN, VOCAB)
    cells = [nn.LSTMCell(HIDDEN, HIDDEN) for _ in range(LAYERS)]

    @torch.no_grad()
    def run():
        generator = torch.Generator().manual_seed(0)
        token = torch.zeros(batch, dtype=torch.long)
        states = [None] * LAYERS
        for _ in range(length):
            x = embed(token)
            for k, cell in enumerate(cells):
                states[k] = cell(x, states[k])
                x = states[k][0]
            token = sample_rows(head(x), [RowSampling()] * batch, [generator] * batch)
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    keep_freed_memory()
    torch.manual_seed(0)
    model = LanguageModel(VOCAB, ModelConfig(hidden_size=HIDDEN, num_layers=LAYERS, embedding_size=HIDDEN)).eval()
    rows = []
    for batch, length in ((1, 1000), (64, 200)):
        runners = {"nn.LSTM, one char per call": lstm_sampler(batch, length),
                   "nn.LSTMCell x2": cell_sampler(batch, length),
                   "rnnkit fp32": rnnkit_sampler(model, batch, length, "fp32"),
                   "rnnkit bf16": rnnkit_sampler(model, batch, length, "bf16")}
        times = {name: [] for name in runners}
        for _ in range(args.rounds):
            for name, run in runners.items():
                start = time.perf_counter()
                run()
                times[name].append(time.perf_counter() - start)
        rates = {name: batch * length / statistics.median(t) for name, t in times.items()}
        for name, rate in rates.items():
            rows.append((batch, name, rate, rate / rates["nn.LSTM, one char per call"]))
    print(f"sampling speed, 2x{HIDDEN} LSTM, {torch.get_num_threads()} threads")
    print(f"{'batch':>5}  {'sampler':<28} {'chars/s':>10} {'ms/step':>8} {'vs nn.LSTM':>11}")
    for batch, name, rate, ratio in rows:
        print(f"{batch:>5}  {name:<28} {rate:>10,.0f} {1000 * batch / rate:>8.3f} {ratio:>10.2f}x")


if __name__ == "__main__":
    main()
