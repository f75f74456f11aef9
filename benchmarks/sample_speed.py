"""Sampling speed of a 2x512 LSTM: rnnkit's generator against torch.nn stepped by hand.

Baselines in the same run: ``nn.LSTM`` fed one character at a time (its length-1
slow path) and two ``nn.LSTMCell``s. rnnkit in fp32 and in bf16 (bf16 matrix
multiplies, fp32 state), with int8 weights (PyTorch's dynamic quantization), and on
ONNX Runtime (the graphs `rnnkit export` writes, fp32 and after ONNX Runtime's dynamic
int8 quantization). Batch 1 and batch 64; interleaved rounds, median reported; batch 1
also as milliseconds per character (latency). Each row also shows the weight bytes a
character reads (all of them per step, shared by the batch's rows) and the bandwidth that
implies, beside this machine's copy bandwidth measured in the same run (a STREAM-like copy
of 256 MB). Prints one table. Targets: 5,000 chars/s at batch 1 (issue 9), 25,000 at 64.

    python benchmarks/sample_speed.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import torch
from torch import nn

from rnnkit.decode.rows import RowSampling, sample_rows
from rnnkit.decode.sampling import generate
from rnnkit.runtime import keep_freed_memory
from rnnkit.tasks.lm.export import ScoreGraph, StepGraph, export_graph, state_names
from rnnkit.tasks.lm.model import LanguageModel
from rnnkit.tasks.lm.runtimes import Int8Model, OnnxModel
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


def onnx_models(model: LanguageModel, folder: Path) -> dict[str, OnnxModel]:
    """The model exported as `rnnkit export` does, and its int8 copy, on ONNX Runtime."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    names = state_names("lstm", LAYERS)
    state = tuple(torch.zeros(2, HIDDEN) for _ in names)
    holder = SimpleNamespace(model=model)
    export_graph(StepGraph(holder), (torch.tensor([1, 2]), *state), names, folder / "step.onnx", timed=False)
    export_graph(ScoreGraph(holder), (torch.tensor([[1, 2, 3], [3, 2, 1]]), *state), names,
                 folder / "score.onnx", timed=True)
    logging.getLogger().setLevel(logging.ERROR)
    for name in ("step", "score"):
        quantize_dynamic(folder / f"{name}.onnx", folder / f"{name}.int8.onnx", weight_type=QuantType.QInt8)
    return {"onnxruntime fp32": OnnxModel(folder, model.config), "onnxruntime int8": OnnxModel(folder, model.config,
                                                                                                 ".int8")}


def copy_bandwidth(megabytes: int = 256) -> float:
    """GB/s of a large tensor copy (read + write), the best of five."""
    source = torch.ones(megabytes * 2**18)
    target = torch.empty_like(source)
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        target.copy_(source)
        best = min(best, time.perf_counter() - start)
    return 2 * source.numel() * 4 / best / 1e9


def weight_bytes(model: LanguageModel) -> dict[str, float]:
    """Bytes of the weights one step reads (recurrent layers and output layer; the embedding is a lookup)."""
    stepped = sum(p.numel() for n, p in model.named_parameters() if "embedding" not in n)
    return {"fp32": 4.0 * stepped, "bf16": 2.0 * stepped, "int8": 1.0 * stepped}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    keep_freed_memory()
    torch.manual_seed(0)
    model = LanguageModel(VOCAB, ModelConfig(hidden_size=HIDDEN, num_layers=LAYERS, embedding_size=HIDDEN)).eval()
    folder = Path(tempfile.mkdtemp())
    others = {"rnnkit int8 (torch)": Int8Model(model), **onnx_models(model, folder)}
    bandwidth, sizes = copy_bandwidth(), weight_bytes(model)
    rows = []
    for batch, length in ((1, 1000), (64, 200)):
        runners = {"nn.LSTM, one char per call": lstm_sampler(batch, length),
                   "nn.LSTMCell x2": cell_sampler(batch, length),
                   "rnnkit fp32": rnnkit_sampler(model, batch, length, "fp32"),
                   "rnnkit bf16": rnnkit_sampler(model, batch, length, "bf16"),
                   **{name: rnnkit_sampler(other, batch, length, "fp32") for name, other in others.items()}}
        times = {name: [] for name in runners}
        for _ in range(args.rounds):
            for name, run in runners.items():
                start = time.perf_counter()
                run()
                times[name].append(time.perf_counter() - start)
        rates = {name: batch * length / statistics.median(t) for name, t in times.items()}
        for name, rate in rates.items():
            rows.append((batch, name, rate, rate / rates["nn.LSTM, one char per call"]))
    print(f"sampling speed, 2x{HIDDEN} LSTM, {torch.get_num_threads()} threads; copy bandwidth {bandwidth:.1f} GB/s")
    print(f"{'batch':>5}  {'sampler':<28} {'chars/s':>10} {'ms/step':>8} {'vs nn.LSTM':>11} {'vs fp32':>8} "
          f"{'bytes/char':>11} {'GB/s':>6}")
    fp32 = {batch: rate for batch, name, rate, _ in rows if name == "rnnkit fp32"}
    for batch, name, rate, ratio in rows:
        kind = "int8" if "int8" in name else "bf16" if "bf16" in name else "fp32"
        per_char = sizes[kind] / batch
        print(f"{batch:>5}  {name:<28} {rate:>10,.0f} {1000 * batch / rate:>8.3f} {ratio:>10.2f}x "
              f"{rate / fp32[batch]:>7.2f}x {per_char:>11,.0f} {rate * per_char / 1e9:>6.1f}")


if __name__ == "__main__":
    main()
