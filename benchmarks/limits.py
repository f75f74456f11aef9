"""How close rnnkit's training gets to this machine's limit, per cell, size, depth, precision and backend.

First the fp32 and bf16 matrix-multiply peaks, measured in this run (the best of
square multiplies). Then rnnkit's full training step (embedding, recurrent layers,
head, loss, backward, clipping, AdamW) on a character model with B=64 streams of
T=64 steps, for each configuration, in characters per second, and the matrix
multiplies' achieved GFLOP/s as a fraction of the peak of the same precision.
The last column compares with fp32 on the fused kernels, measured in the same run.

    python benchmarks/limits.py [--cells lstm gru rnn] [--hidden 128 256 512] [--layers 1 2 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from rnnkit.data.tokenizers import CharTokenizer
from rnnkit.nn.pointwise import compiler_works
from rnnkit.runtime import keep_freed_memory
from rnnkit.tasks.lm.model import LanguageModel
from rnnkit.tasks.lm.task import LanguageModelTask
from rnnkit.tasks.sections import DataConfig, ModelConfig
from rnnkit.train.loop import TrainConfig, TrainLoop

VOCAB, BATCH, STEPS = 65, 64, 64
GATES = {"rnn": 1, "lstm": 4, "gru": 3}


def matmul_peak(dtype: torch.dtype, sizes=(1024, 2048, 3072), repeats: int = 4) -> float:
    """The best GFLOP/s of square matrix multiplies in ``dtype``, each the fastest of ``repeats``."""
    best = 0.0
    for size in sizes:
        a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
        a @ b
        fastest = min(timed(lambda a=a, b=b: a @ b) for _ in range(repeats))
        best = max(best, 2 * size**3 / fastest / 1e9)
    return best


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def training_flops_per_char(cell: str, hidden: int, layers: int) -> float:
    """Matrix-multiply FLOPs per character, forward and backward (3x forward); embedding = hidden."""
    recurrent = layers * GATES[cell] * hidden * (hidden + hidden) * 2
    return 3 * (recurrent + hidden * VOCAB * 2)


def train_steps(cell: str, hidden: int, layers: int, precision: str, backend: str, ids: np.ndarray,
                run_dir: Path, steps: int, embed: int = 0, batch: int = BATCH, seq_len: int = STEPS):
    """A closure running ``steps`` of rnnkit's own training step (``TrainLoop.train_step``)."""
    tokenizer = CharTokenizer([chr(32 + i) for i in range(VOCAB - 1)])
    torch.manual_seed(0)
    model = LanguageModel(VOCAB, ModelConfig(cell=cell, hidden_size=hidden, num_layers=layers,
                                             embedding_size=embed or hidden, backend=backend))
    task = LanguageModelTask(model, tokenizer, ids, ids[:1000], DataConfig(batch_size=batch, seq_len=seq_len),
                             " ", torch.device("cpu"), 10, precision)
    loop = TrainLoop(model, task, TrainConfig(steps=10**9, warmup_steps=0, lr=1e-3), run_dir, show_progress=False)

    def run():
        for _ in range(steps):
            loop.train_step()
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", nargs="+", default=["lstm", "gru", "rnn"])
    parser.add_argument("--hidden", type=int, nargs="+", default=[128, 256, 512])
    parser.add_argument("--layers", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    keep_freed_memory()
    peaks = {"fp32": matmul_peak(torch.float32), "bf16": matmul_peak(torch.bfloat16)}
    backends = ["fused"] + (["compiled"] if compiler_works() else [])
    ids = np.random.default_rng(0).integers(0, VOCAB, 3_000_000).astype(np.uint8)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for cell in args.cells:
            for hidden in args.hidden:
                for layers in args.layers:
                    steps = max(1, round(2 * 512 / hidden))
                    rates = {}
                    for precision in ("fp32", "bf16"):
                        for backend in backends:
                            run = train_steps(cell, hidden, layers, precision, backend, ids, Path(tmp), steps)
                            run()  # warm-up (and compiling)
                            seconds = statistics.median(timed(run) for _ in range(args.rounds))
                            rates[precision, backend] = BATCH * STEPS * steps / seconds
                    flops = training_flops_per_char(cell, hidden, layers)
                    for (precision, backend), rate in rates.items():
                        fraction = rate * flops / 1e9 / peaks[precision]
                        rows.append((cell, hidden, layers, precision, backend, rate, fraction,
                                     rate / rates["fp32", "fused"]))
                    print(f"  {cell} {layers}x{hidden}: " + ", ".join(f"{p} {b} {r:,.0f}" for (p, b), r
                                                                      in rates.items()), flush=True)
    print(f"\ntraining throughput, B={BATCH} x T={STEPS}, embedding = hidden, {torch.get_num_threads()} threads; "
          f"matmul peaks measured here: fp32 {peaks['fp32']:.0f}, bf16 {peaks['bf16']:.0f} GFLOP/s")
    print(f"{'cell':<5} {'size':>6} {'precision':>9} {'backend':>9} {'chars/s':>9} {'of peak':>8} "
          f"{'vs fp32 fused':>14}")
    for cell, hidden, layers, precision, backend, rate, fraction, ratio in rows:
        print(f"{cell:<5} {f'{layers}x{hidden}':>6} {precision:>9} {backend:>9} {rate:>9,.0f} {fraction:>8.0%} "
              f"{ratio:>13.2f}x")


if __name__ == "__main__":
    main()
