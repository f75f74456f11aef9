"""Training throughput: rnnkit's training step against a plain PyTorch loop of the same shapes.

Both run in this process, interleaved in rounds (these machines are noisy), and
both are compared with this machine's fp32 matrix-multiply peak measured here.
Prints one table. Target: rnnkit's overhead over the plain loop under 5%.

    python benchmarks/train_throughput.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import numpy as np
import torch
from limits import matmul_peak, timed, train_steps  # benchmarks/limits.py, beside this script
from torch import nn
from torch.nn import functional as F

VOCAB = 65
SHAPES = [(1, 512, 64, 16, 64), (2, 512, 512, 64, 64), (2, 256, 256, 16, 64)]  # layers, hidden, embed, B, T


def flops_per_token(layers: int, hidden: int, embed: int) -> float:
    """Forward + backward (3x forward) floating-point operations of the matrix multiplies, per token."""
    lstm = 4 * hidden * (embed + hidden) + (layers - 1) * 4 * hidden * 2 * hidden
    return 3 * 2 * (lstm + hidden * VOCAB)


class PlainLSTM(nn.Module):
    """The baseline: what one would write by hand with torch.nn."""

    def __init__(self, layers: int, hidden: int, embed: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(VOCAB, embed)
        self.lstm = nn.LSTM(embed, hidden, layers, batch_first=True)
        self.head = nn.Linear(hidden, VOCAB)

    def forward(self, x, state):
        out, state = self.lstm(self.embed(x), state)
        return self.head(out), state


def plain_steps(layers, hidden, embed, batch, seq_len, ids, steps):
    model = PlainLSTM(layers, hidden, embed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    stream = torch.as_tensor(ids[: batch * (len(ids) // batch)].astype(np.int64)).view(batch, -1)
    state = None

    def run():
        nonlocal state
        for step in range(steps):
            chunk = stream[:, step * seq_len: (step + 1) * seq_len + 1]
            logits, state = model(chunk[:, :-1], state)
            state = tuple(s.detach() for s in state)
            loss = F.cross_entropy(logits.flatten(0, 1), chunk[:, 1:].flatten())
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
    return run


def rnnkit_steps(layers, hidden, embed, batch, seq_len, ids, steps, run_dir: Path):
    return train_steps("lstm", hidden, layers, "fp32", "fused", ids, run_dir, steps, embed, batch, seq_len)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--steps", type=int, default=4)
    args = parser.parse_args()
    torch.manual_seed(0)
    ids = np.random.default_rng(0).integers(0, VOCAB, 2_000_000).astype(np.uint8)
    peak = matmul_peak(torch.float32)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for layers, hidden, embed, batch, seq_len in SHAPES:
            plain = plain_steps(layers, hidden, embed, batch, seq_len, ids, args.steps)
            ours = rnnkit_steps(layers, hidden, embed, batch, seq_len, ids, args.steps, Path(tmp))
            plain(), ours()  # warm-up
            times = {"plain": [], "rnnkit": []}
            for _ in range(args.rounds):
                times["plain"].append(timed(plain))
                times["rnnkit"].append(timed(ours))
            tokens = batch * seq_len * args.steps
            rate = {k: tokens / statistics.median(v) for k, v in times.items()}
            gflops = rate["rnnkit"] * flops_per_token(layers, hidden, embed) / 1e9
            rows.append((f"{layers}x{hidden} E{embed} B{batch} T{seq_len}", rate["plain"], rate["rnnkit"],
                         rate["plain"] / rate["rnnkit"] - 1, gflops, gflops / peak))
    print(f"training throughput, fp32, {torch.get_num_threads()} threads; "
          f"matmul peak measured here {peak:.0f} GFLOP/s")
    print(f"{'shape':<24} {'plain chars/s':>14} {'rnnkit chars/s':>15} {'overhead':>9} {'GFLOP/s':>8} "
          f"{'of peak':>8}")
    for name, plain_rate, our_rate, overhead, gflops, fraction in rows:
        print(f"{name:<24} {plain_rate:>14,.0f} {our_rate:>15,.0f} {overhead:>8.1%} {gflops:>8.1f} "
              f"{fraction:>8.1%}")


if __name__ == "__main__":
    main()
