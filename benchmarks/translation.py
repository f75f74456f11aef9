"""Translator training throughput: batches of --batch-tokens against batches of --batch-size pairs.

Both train the default translator on eng-fra (French to English) for the same number of steps, in
alternating rounds in this process's machine (these machines are noisy); the token budget is the
mean unpadded size of a 64-pair batch, so a step trains on about as many real tokens either
way. Rates are rnnkit's own target tokens per second (``metrics.jsonl``). Prints one table.

    python benchmarks/translation.py [--rounds 2] [--steps 150] [--pairs PATH]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "eng-fra.txt"
PAIRS_A_BATCH = 64


def budget_for(pairs: Path) -> int:
    """Source + target + start tokens of an average 64-pair batch (words and punctuation)."""
    import re

    words = [len(re.findall(r"\w+|[^\w\s]", line)) for line in pairs.read_text(encoding="utf-8").splitlines()]
    return round(PAIRS_A_BATCH * (sum(words) / len(words) + 2))  # each side's end token, the start token


def tokens_per_s(pairs: Path, batching: list[str], steps: int, work: Path) -> tuple[float, float]:
    run = Path(tempfile.mkdtemp(dir=work)) / "run"
    command = [sys.executable, "-m", "rnnkit", "train", "translate", str(pairs), "--reverse-pairs", *batching,
               "--steps", str(steps), "--eval-every", str(steps), "--out", str(run), "--no-progress",
               "--device", "cpu"]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(done.stderr.strip().splitlines()[-1])
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    last = [r for r in rows if "tokens_per_s" in r][-1]
    return last["tokens_per_s"], [r for r in rows if "val_loss" in r][-1]["val_loss"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--pairs", type=Path, default=SHARED)
    args = parser.parse_args()
    budget = budget_for(args.pairs)
    ways = {f"--batch-size {PAIRS_A_BATCH}": ["--batch-size", str(PAIRS_A_BATCH)],
            f"--batch-tokens {budget}": ["--batch-tokens", str(budget)]}
    work = Path(tempfile.mkdtemp())
    found: dict[str, list[tuple[float, float]]] = {name: [] for name in ways}
    for _ in range(args.rounds):
        for name, flags in ways.items():
            found[name].append(tokens_per_s(args.pairs, flags, args.steps, work))
    print(f"{args.pairs.name}, French to English, default translator, {args.steps} steps, median of "
          f"{args.rounds} rounds")
    print(f"{'batching':<22} {'target tokens/s':>16} {'ratio':>7} {'val loss':>9}")
    base = statistics.median(rate for rate, _ in found[next(iter(ways))])
    for name, results in found.items():
        rate = statistics.median(r for r, _ in results)
        print(f"{name:<22} {rate:>16,.0f} {rate / base:>6.2f}x {statistics.median(v for _, v in results):>9.3f}")


if __name__ == "__main__":
    main()
