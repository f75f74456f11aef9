"""Sampling speed of a 2x512 and the default 1x512 LSTM: rnnkit's generator against torch.nn stepped by hand.

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

import torch
from torch import nn

from rnnkit.decode.rows import RowSampling, sample_rows
from rnnkit.decode.sampling import generate
from rnnkit.runtime import keep_freed_memory
from rnnkit.tasks.lm.export import export_graphs
from rnnkit.tasks.lm.model import LanguageModel
from rnnkit.tasks.lm.runtimes import Int8Model, OnnxModel
from rnnkit.tasks.sections import ModelConfig

VOCAB, HIDDEN = 65, 512
SHAPES = (2, 1)  # layers: the 2x512 and the default 1x512


def rnnkit_sampler(model, batch, length, precision):
    def run():
        generator = torch.Generator().manual_seed(0)
        prime = torch.zeros(batch, 1, dtype=torch.long)
        for _ in generate(model, prime, length, generator=generator, precision=precision):
            pass
    return run


def lstm_sampler(batch, length, layers):
    embed, lstm, head = nn.Embedding(VOCAB, HIDDEN), nn.LSTM(HIDDEN, HIDDEN, layers, batch_first=True), \
        nn.Linear(HIDDEN, VOCAB)

    @torch.no_grad()
    def run():
        generator = torch.Generator().manual_seed(0)
        token, state = torch.zeros(batch, dtype=torch.long), None
        for _ in range(length):
            out, state = lstm(embed(token)[:, None], state)
            token = sample_rows(head(out[:, 0]), [RowSampling()] * batch, [generator] * batch)
    return run


def cell_sampler(batch, length, layers):
    embed, head = nn.Embedding(VOCAB, HIDDEN), nn.Linear(HIDDEN, VOCAB)
    cells = [nn.LSTMCell(HIDDEN, HIDDEN) for _ in range(layers)]

    @torch.no_grad()
    def run():
        generator = torch.Generator().manual_seed(0)
        token = torch.zeros(batch, dtype=torch.long)
        states = [None] * layers
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

    export_graphs(model, folder)
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


def measure(layers: int, rounds: int) -> list[tuple]:
    """(model, batch, sampler, chars/s, vs nn.LSTM, bytes/char) rows for one model shape."""
    torch.manual_seed(0)
    model = LanguageModel(VOCAB, ModelConfig(hidden_size=HIDDEN, num_layers=layers, embedding_size=HIDDEN)).eval()
    others = {"rnnkit int8 (torch)": Int8Model(model), **onnx_models(model, Path(tempfile.mkdtemp()))}
    sizes, rows = weight_bytes(model), []
    for batch, length in ((1, 1000), (64, 200)):
        runners = {"nn.LSTM, one char per call": lstm_sampler(batch, length, layers),
                   f"nn.LSTMCell x{layers}": cell_sampler(batch, length, layers),
                   "rnnkit fp32": rnnkit_sampler(model, batch, length, "fp32"),
                   "rnnkit bf16": rnnkit_sampler(model, batch, length, "bf16"),
                   **{name: rnnkit_sampler(other, batch, length, "fp32") for name, other in others.items()}}
        times = {name: [] for name in runners}
        for _ in range(rounds):
            for name, run in runners.items():
                start = time.perf_counter()
                run()
                times[name].append(time.perf_counter() - start)
        rates = {name: batch * length / statistics.median(t) for name, t in times.items()}
        for name, rate in rates.items():
            kind = "int8" if "int8" in name else "bf16" if "bf16" in name else "fp32"
            rows.append((f"{layers}x{HIDDEN}", batch, name, rate, rate / rates["nn.LSTM, one char per call"],
                         rate / rates["rnnkit fp32"], sizes[kind] / batch))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    keep_freed_memory()
    bandwidth = copy_bandwidth()
    rows = [row for layers in SHAPES for row in measure(layers, args.rounds)]
    print(f"sampling speed, LSTMs of width {HIDDEN}, {torch.get_num_threads()} threads; copy bandwidth "
          f"{bandwidth:.1f} GB/s")
    print(f"{'model':>5}  {'batch':>5}  {'sampler':<28} {'chars/s':>10} {'ms/step':>8} {'vs nn.LSTM':>11} "
          f"{'vs fp32':>8} {'bytes/char':>11} {'GB/s':>6}")
    for shape, batch, name, rate, ratio, vs_fp32, per_char in rows:
        print(f"{shape:>5}  {batch:>5}  {name:<28} {rate:>10,.0f} {1000 * batch / rate:>8.3f} {ratio:>10.2f}x "
              f"{vs_fp32:>7.2f}x {per_char:>11,.0f} {rate * per_char / 1e9:>6.1f}")


if __name__ == "__main__":
    main()
