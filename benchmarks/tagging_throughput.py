"""Sentences per second of the default tagger, training and predicting: padded batches against one
sentence at a time, measured in the same run.

The network is `rnnkit train tag`'s default (word embedding 100, character BiLSTM 2x25, bidirectional
LSTM 1x256; softmax or CRF), on UD English EWT's training sentences. Training: AdamW steps of 32
sentences (rnnkit's way, padded and packed) against steps of one sentence (how the PyTorch BiLSTM-CRF
tutorial trains). Prediction: batches of 128 against one at a time. Interleaved rounds, median reported.
Prints one table.

    python benchmarks/tagging_throughput.py [DATA] [--seconds 10] [--rounds 3] [--crf]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from rnnkit.data.conll import TaggedConfig, load_tagged
from rnnkit.data.sequences import ShuffledBatches
from rnnkit.tasks import TASKS
from rnnkit.tasks.tag.model import Tagger, predict_tags
from rnnkit.tasks.tag.vocab import Encoded, TagVocab, collate

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "ud-en-ewt"


def default_model(vocab: TagVocab, crf: bool) -> Tagger:
    sections = TASKS["tag"].build_sections({"crf": crf})
    torch.manual_seed(0)
    return Tagger(len(vocab.words), len(vocab.chars), vocab.tags, sections["model"], sections["tagger"])


def training_rate(model: Tagger, sentences: list[Encoded], batch_size: int, seconds: float) -> float:
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    batches = ShuffledBatches(np.array([len(s.words) for s in sentences]), batch_size, seed=0)
    model.train()
    seen, step, started = 0, 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        batch = collate([sentences[i] for i in batches.indices(step)])
        loss = model.loss(batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        seen, step = seen + len(batch.lengths), step + 1
    return seen / (time.perf_counter() - started)


def prediction_rate(model: Tagger, sentences: list[Encoded], batch_size: int, seconds: float) -> float:
    seen, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        chunk = sentences[seen % len(sentences):][:max(batch_size, 1) * 8]
        predict_tags(model, chunk, torch.device("cpu"), batch_size=batch_size)
        seen += len(chunk)
    return seen / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--crf", action="store_true")
    args = parser.parse_args()
    splits, _ = load_tagged([str(args.data)], TaggedConfig(), "utf-8", 0, (0.8, 0.1, 0.1))
    pairs = [(s.words, s.tags) for s in splits["train"]]
    vocab = TagVocab.fit(pairs, lowercase=False)
    encoded = [vocab.encode(w, t) for w, t in pairs]
    cases = {("train", 1): training_rate, ("train", 32): training_rate,
             ("predict", 1): prediction_rate, ("predict", 128): prediction_rate}
    rates: dict[tuple[str, int], list[float]] = {case: [] for case in cases}
    for _ in range(args.rounds):
        for (what, batch_size), measure in cases.items():
            rates[(what, batch_size)].append(measure(default_model(vocab, args.crf), encoded, batch_size,
                                                     args.seconds))
    median = {case: statistics.median(values) for case, values in rates.items()}
    print(f"{len(encoded):,} EWT training sentences, default tagger{' + CRF' if args.crf else ''}, "
          f"{torch.get_num_threads()} threads, median of {args.rounds} rounds of {args.seconds:g} s")
    print("| | one sentence at a time | padded batches | speed-up |")
    print("|---|---|---|---|")
    for what, batched in (("train", 32), ("predict", 128)):
        one, many = median[(what, 1)], median[(what, batched)]
        print(f"| {what} (sentences/s) | {one:,.0f} | {many:,.0f} (batch {batched}) | **{many / one:.1f}x** |")


if __name__ == "__main__":
    main()
