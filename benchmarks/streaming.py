"""Preparing a large corpus: the streamed reader against the whole text read in memory.

Each row prepares a generated corpus (mixed scripts, accents, emoji, words and
punctuation) as `rnnkit train lm` does before its first step: split, tokenizer fitted on
the training part, both parts encoded. Each runs in a fresh process; its peak RSS above
what the imports take is read with ``resource.getrusage``. Prints one table.

    python benchmarks/streaming.py [--megabytes 256]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np

WORDS = ["naïve", "café", "e\u0301te\u0301", "Straße", "日本語", "😀", "don't", "the", "of", "and", "42", "...",
         "rivers", "Paris", "x", "-"]

RUN = textwrap.dedent("""
    import resource, sys, time, json
    from pathlib import Path
    from rnnkit.tasks.lm.corpus import prepare_corpus
    from rnnkit.tasks.lm.run import prepare_data
    from rnnkit.tasks.sections import DataConfig
    way, corpus, tokenizer, run = sys.argv[1:]
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    data = DataConfig(tokenizer=tokenizer, vocab_size=10000)
    if way == "streamed":
        Path(run).mkdir()
        _, train, val, _ = prepare_corpus([corpus], data, Path(run), show_progress=False)
    else:
        _, train, val, _ = prepare_data([corpus], data)
    seconds = time.perf_counter() - start
    peak = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    print(json.dumps({"seconds": seconds, "peak_mb": peak, "tokens": len(train) + len(val)}))
""")


def write_corpus(path: Path, megabytes: int) -> None:
    rng = np.random.default_rng(0)
    words = rng.choice(WORDS, size=200_000)
    breaks = rng.choice([" ", " ", " ", "\n", ", ", ". "], size=len(words))
    block = "".join(w + b for w, b in zip(words, breaks, strict=True)).encode()
    with open(path, "wb") as handle:
        for _ in range(megabytes * 2**20 // len(block) + 1):
            handle.write(block)


def measure(way: str, corpus: Path, tokenizer: str, work: Path) -> dict:
    import json

    result = subprocess.run([sys.executable, "-c", RUN, way, str(corpus), tokenizer, str(work / f"{way}-{tokenizer}")],
                            capture_output=True, text=True)
    if result.returncode != 0:
        return {"seconds": float("nan"), "peak_mb": float("nan"), "tokens": 0,
                "error": result.stderr.strip().splitlines()[-1] if result.stderr.strip() else "killed"}
    return json.loads(result.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=int, default=256)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp())
    corpus = work / "corpus.txt"
    write_corpus(corpus, args.megabytes)
    size = corpus.stat().st_size / 2**20
    print(f"preparing a {size:.0f} MB generated corpus for `rnnkit train lm` (split, fit, encode)")
    print(f"{'tokenizer':<10} {'reader':<10} {'seconds':>8} {'MB/s':>7} {'peak RSS +MB':>13} {'tokens':>13}")
    for tokenizer in ("char", "word", "bpe"):
        for way in ("in memory", "streamed"):
            found = measure(way.replace("in memory", "memory"), corpus, tokenizer, work)
            print(f"{tokenizer:<10} {way:<10} {found['seconds']:>8.1f} {size / found['seconds']:>7.1f} "
                  f"{found['peak_mb']:>13,.0f} {found['tokens']:>13,} {found.get('error', '')}")


if __name__ == "__main__":
    main()
