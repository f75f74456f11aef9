"""What int8 weights and ONNX Runtime cost a trained language model in bits per character, and what they buy
at batch-1 sampling, measured on the same run in one script.

Scores held-out text with `rnnkit eval RUN TEXT` on each runtime (PyTorch fp32, PyTorch int8, ONNX Runtime
fp32, ONNX Runtime int8) and times batch-1 greedy sampling on each. Prints one table. Issue 19's bar:
bits per character within 1% of fp32.

    rnnkit train lm train.txt --num-layers 2 --hidden-size 512 --minutes 8 --out runs/ts2
    python benchmarks/int8_quality.py runs/ts2 held_out.txt [--length 2000]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from rnnkit.tasks.lm import run as lm_run
from rnnkit.tasks.lm.runtimes import on_runtime
from rnnkit.tasks.requests import Sampling

RUNTIMES = (("torch", "none"), ("torch", "int8"), ("onnx", "none"), ("onnx", "int8"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("text", type=Path)
    parser.add_argument("--length", type=int, default=2000, help="characters sampled for the speed column")
    args = parser.parse_args()
    base = lm_run.load(args.run, "cpu")
    seq_len = base.config["data"]["seq_len"]
    rows = []
    for runtime, quantize in RUNTIMES:
        loaded = on_runtime(base, runtime, quantize)
        scores = lm_run.evaluate(loaded, [str(args.text)], "utf-8", 16, seq_len, "fp32")
        started = time.perf_counter()
        for _ in lm_run.sample(loaded, Sampling("\n", length=args.length, temperature=0.0), "fp32"):
            pass
        rows.append((runtime, quantize, scores.bits_per_char, args.length / (time.perf_counter() - started)))
    model = base.model.config
    print(f"{args.run}: {model.num_layers}x{model.hidden_size} {model.cell}, {args.text} held out")
    print("| runtime | weights | bits per char | vs fp32 | batch-1 chars/s | vs fp32 |")
    print("|---|---|---|---|---|---|")
    fp32_bits, fp32_rate = rows[0][2], rows[0][3]
    for runtime, quantize, bits, rate in rows:
        print(f"| {runtime} | {'int8' if quantize == 'int8' else 'fp32'} | {bits:.4f} | "
              f"{100 * (bits / fp32_bits - 1):+.2f}% | {rate:,.0f} | {rate / fp32_rate:.2f}x |")


if __name__ == "__main__":
    main()
