"""Training throughput of a surname classifier: padded, packed batches against one name at a time.

The PyTorch tutorial trains its name classifier with a batch of one. The baseline
here does the same with the same network (embedding, bidirectional LSTM 1x256,
max pooling, linear): one forward and backward per name. rnnkit's way batches 64
names of similar length, padded and run packed. Both train on the same names for
the same wall time; interleaved rounds, median reported. Prints one table.

    python benchmarks/classify_throughput.py [--seconds 20] [--rounds 3] [DATA]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from rnnkit.data.labelled import LabelledConfig, read_examples
from rnnkit.data.sequences import ShuffledBatches, pad
from rnnkit.data.tokenizers import CharTokenizer, encode_texts
from rnnkit.tasks.classify.model import Classifier, ClassifierConfig
from rnnkit.tasks.sections import ModelConfig

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "names"


def examples_per_second(batch_size: int, sequences, labels, vocab_size: int, seconds: float) -> float:
    """Train for ``seconds`` with AdamW; returns names processed per second."""
    torch.manual_seed(0)
    model = Classifier(vocab_size, int(labels.max()) + 1, ModelConfig(hidden_size=256, embedding_size=64, dropout=0.3),
                       ClassifierConfig())
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    batches = ShuffledBatches(np.array([len(s) for s in sequences]), batch_size, seed=0)
    seen, step, started = 0, 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        chosen = batches.indices(step)
        ids, lengths = pad([sequences[i] for i in chosen])
        loss = F.cross_entropy(model(ids, lengths), torch.from_numpy(labels[chosen]))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        seen, step = seen + len(chosen), step + 1
    return seen / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    examples = read_examples(args.data, LabelledConfig())
    tokenizer = CharTokenizer.fit("".join(t for t, _ in examples))
    names = sorted({y for _, y in examples})
    sequences = encode_texts(tokenizer, [t for t, _ in examples])
    labels = np.array([names.index(y) for _, y in examples])
    results: dict[int, list[float]] = {1: [], 64: []}
    for _ in range(args.rounds):
        for batch_size in results:
            rate = examples_per_second(batch_size, sequences, labels, tokenizer.vocab_size, args.seconds)
            results[batch_size].append(rate)
    one, batched = statistics.median(results[1]), statistics.median(results[64])
    print(f"{len(examples):,} names, bidirectional LSTM 1x256, {torch.get_num_threads()} threads, "
          f"median of {args.rounds} rounds of {args.seconds:g} s")
    print("| training | names/s | epoch of the names | speed-up |")
    print("|---|---|---|---|")
    print(f"| one name at a time (the tutorial) | {one:,.0f} | {len(examples) / one:,.0f} s | 1.0x |")
    print(f"| rnnkit: 64 names, padded and packed | {batched:,.0f} | {len(examples) / batched:,.0f} s | "
          f"**{batched / one:.1f}x** |")


if __name__ == "__main__":
    main()
