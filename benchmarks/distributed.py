"""Data-parallel training on this machine's cores, and preparing a 1 GB corpus.

Training: each model trains for a fixed number of steps as one process with all the cores
(``OMP_NUM_THREADS``) and as ``--nproc N`` gloo ranks with a share of them each, the same
global batch; the rate is rnnkit's own characters per second over all ranks (``metrics.jsonl``),
the last column their ratio (the
scaling efficiency on the same cores). The rows alternate over rounds (these machines are
noisy) and the median is printed. Encoding: a generated corpus of ``--megabytes`` prepared for a
character model streamed and read whole in memory (``benchmarks/streaming.py``); the in-memory
reader runs under an address-space limit, so a corpus that does not fit fails instead of swapping.
Prints one table.

    python benchmarks/distributed.py [--rounds 3] [--steps 60] [--megabytes 1024 (0: no corpus)]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from streaming import measure, write_corpus  # benchmarks/streaming.py, beside this script

MODELS = {"default (1x512 LSTM, B=16)": [], "2x512 LSTM, B=16": ["--num-layers", "2"],
          "2x512 LSTM, B=64": ["--num-layers", "2", "--batch-size", "64"]}
MEMORY_LIMIT_GB = 18  # of this machine's 24 GiB: the in-memory reader's ceiling


def training_text() -> str:
    """Tiny Shakespeare where the shared data has it, else the built-in corpus."""
    shared = Path(__file__).resolve().parents[2] / "shared" / "data" / "tinyshakespeare.txt"
    return str(shared) if shared.exists() else "python-stdlib"


def chars_per_s(text: str, flags: list[str], processes: int, steps: int, work: Path) -> float:
    cores = os.cpu_count() or 1
    run = Path(tempfile.mkdtemp(dir=work)) / "run"
    command = [sys.executable, "-m", "rnnkit", "train", "lm", text, *flags, "--steps", str(steps),
               "--eval-every", str(steps), "--out", str(run), "--no-progress", "--device", "cpu"]
    env = {**os.environ, "OMP_NUM_THREADS": str(max(1, cores // processes))}
    if processes > 1:
        command += ["--nproc", str(processes)]
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise SystemExit(done.stderr.strip().splitlines()[-1])
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [r["chars_per_s"] for r in rows if "chars_per_s" in r][-1]


def limited(way: str, corpus: Path, work: Path) -> dict:
    """``streaming.measure`` with the in-memory reader under an address-space limit."""
    if way != "memory":
        return measure(way, corpus, "char", work)
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT_GB * 2**30, hard))  # inherited by the child
    try:
        return measure(way, corpus, "char", work)
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--nproc", type=int, default=2)
    parser.add_argument("--megabytes", type=int, default=1024)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp())
    text, cores = training_text(), os.cpu_count() or 1
    print(f"{cores} cores; training on {Path(text).name}, {args.steps} steps, median of {args.rounds} rounds")
    ranks = f"{args.nproc} x {cores // args.nproc} threads"
    print(f"{'model':<27} {'1 x ' + str(cores) + ' threads':>16} {ranks:>16} {'ranks / one':>11}")
    for name, flags in MODELS.items():
        rates: dict[int, list[float]] = {1: [], args.nproc: []}
        for _ in range(args.rounds):
            for processes in rates:
                rates[processes].append(chars_per_s(text, flags, processes, args.steps, work))
        one, many = (statistics.median(rates[p]) for p in rates)
        print(f"{name:<27} {one:>12,.0f} c/s {many:>12,.0f} c/s {many / one:>10.0%}")
    if args.megabytes <= 0:
        return
    corpus = work / "corpus.txt"
    write_corpus(corpus, args.megabytes)
    size = corpus.stat().st_size / 2**20
    print(f"\npreparing a {size:,.0f} MB generated corpus for a character model (split, fit, encode)")
    print(f"{'reader':<22} {'seconds':>8} {'MB/s':>7} {'peak RSS +MB':>13}")
    for way in ("streamed", "memory"):
        found = limited(way, corpus, work)
        shown = "in memory" if way == "memory" else way
        note = f"  failed under a {MEMORY_LIMIT_GB} GB limit: {found['error']}" if "error" in found else ""
        print(f"{shown:<22} {found['seconds']:>8.1f} {size / found['seconds']:>7.1f} {found['peak_mb']:>13,.0f}{note}")


if __name__ == "__main__":
    main()
