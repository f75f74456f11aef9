"""Character 5-gram Kneser-Ney on Tiny Shakespeare: rnnkit against NLTK, plus a 7-gram on 10 MB.

Each measurement runs in its own Python process, so its peak memory (max RSS) is
its own. NLTK's ``KneserNeyInterpolated`` is fitted on the same training split;
its scoring is so slow that it scores the first ``--nltk-tokens`` validation
characters, and its time for the whole validation split is extrapolated from
that rate. Speed-up = NLTK's (fit + score the whole split) / rnnkit's. Targets:
at least 100x, and a 7-gram fitted on 10 MB in under 30 s.

    python benchmarks/ngram.py [path/to/tinyshakespeare.txt] [--nltk-tokens 200]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

DEFAULT_TEXT = Path(__file__).resolve().parents[2] / "shared" / "data" / "tinyshakespeare.txt"


def split(path: str) -> tuple[str, str]:
    text = Path(path).read_text(encoding="utf-8")
    cut = int(round(len(text) * 0.9))
    return text[:cut], text[cut:]


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure_rnnkit(path: str, order: int, head: int) -> dict:
    import numpy as np

    from rnnkit.data.tokenizers import CharTokenizer
    from rnnkit.ngram import NGramLM, from_text

    train, validation = split(path)
    tokenizer = CharTokenizer.fit(train)
    started = time.perf_counter()
    model = NGramLM(order, "kn").fit(from_text(train, tokenizer, "stream"), tokenizer.vocab_size)
    fit = time.perf_counter() - started
    stream = from_text(validation, tokenizer, "stream")
    started = time.perf_counter()
    result = model.score(stream)
    score = time.perf_counter() - started
    head_bits = -np.log2(model.token_probs(stream)[:head]).mean()  # the characters NLTK scores
    return {"fit_s": fit, "score_s": score, "tokens": result["tokens"], "bits_per_char": result["bits_per_char"],
            "head_bits_per_char": float(head_bits), "peak_mb": peak_mb(), "train_chars": len(train)}


def measure_nltk(path: str, order: int, tokens: int) -> dict:
    import math

    from nltk.lm import KneserNeyInterpolated
    from nltk.util import everygrams

    train, validation = split(path)
    started = time.perf_counter()
    model = KneserNeyInterpolated(order)
    model.fit([list(everygrams(list(train), max_len=order))], list(train))
    fit = time.perf_counter() - started
    started = time.perf_counter()
    nats = 0.0
    for i in range(1, tokens + 1):
        p = model.score(validation[i], list(validation[max(0, i - order + 1):i]))
        nats -= math.log(p) if p > 0 else math.inf
    score = time.perf_counter() - started
    return {"fit_s": fit, "score_s": score, "tokens": tokens, "bits_per_char": nats / tokens / math.log(2),
            "peak_mb": peak_mb(), "validation_tokens": len(validation) - 1}


def measure_large(order: int, chars: int) -> dict:
    from rnnkit.data.corpora import read_builtin
    from rnnkit.data.tokenizers import CharTokenizer
    from rnnkit.ngram import NGramLM, from_text

    text = read_builtin("python-stdlib", chars)
    tokenizer = CharTokenizer.fit(text)
    stream = from_text(text, tokenizer, "stream")
    started = time.perf_counter()
    model = NGramLM(order, "kn").fit(stream, tokenizer.vocab_size)
    return {"fit_s": time.perf_counter() - started, "chars": len(text), "peak_mb": peak_mb(),
            "ngrams": sum(len(t.keys) for t in model.counts.tables)}


def in_subprocess(*args: str) -> dict:
    output = subprocess.run([sys.executable, __file__, "--part", *args], check=True, capture_output=True,
                            text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("text", nargs="?", default=str(DEFAULT_TEXT))
    parser.add_argument("--order", type=int, default=5)
    parser.add_argument("--nltk-tokens", type=int, default=200, help="validation characters NLTK scores")
    parser.add_argument("--large-chars", type=int, default=10_000_000)
    parser.add_argument("--part", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.part:
        kind, *rest = args.part
        if kind == "rnnkit":
            print(json.dumps(measure_rnnkit(rest[0], int(rest[1]), int(rest[2]))))
        elif kind == "nltk":
            print(json.dumps(measure_nltk(rest[0], int(rest[1]), int(rest[2]))))
        else:
            print(json.dumps(measure_large(int(rest[0]), int(rest[1]))))
        return

    ours = in_subprocess("rnnkit", args.text, str(args.order), str(args.nltk_tokens))
    nltk = in_subprocess("nltk", args.text, str(args.order), str(args.nltk_tokens))
    large = in_subprocess("large", "7", str(args.large_chars))
    nltk_full = nltk["fit_s"] + nltk["score_s"] / nltk["tokens"] * nltk["validation_tokens"]
    ours_full = ours["fit_s"] + ours["score_s"]
    print(f"character {args.order}-gram Kneser-Ney, {ours['train_chars']:,} training characters, "
          f"{ours['tokens']:,} validation characters")
    head = f"bits/char, first {nltk['tokens']}"
    print(f"{'':30} {'fit s':>8} {'score tokens/s':>15} {'fit+score s':>12} {'peak MB':>8} {'val bits/char':>14} "
          f"{head:>22}")
    print(f"{'rnnkit (modified KN)':30} {ours['fit_s']:8.2f} {ours['tokens'] / ours['score_s']:15,.0f} "
          f"{ours_full:12.2f} {ours['peak_mb']:8.0f} {ours['bits_per_char']:14.3f} {ours['head_bits_per_char']:22.3f}")
    print(f"{'NLTK KneserNeyInterpolated':30} {nltk['fit_s']:8.2f} {nltk['tokens'] / nltk['score_s']:15,.1f} "
          f"{nltk_full:12.0f} {nltk['peak_mb']:8.0f} {'':>14} {nltk['bits_per_char']:22.3f}")
    print(f"{'speed-up (fit + score)':30} {nltk_full / ours_full:8.0f}x   (target: at least 100x; NLTK's "
          f"score time extrapolated from {nltk['tokens']} characters)")
    print(f"{'rnnkit 7-gram, ' + format(large['chars'], ',') + ' chars':30} {large['fit_s']:8.2f} {'':15} {'':12} "
          f"{large['peak_mb']:8.0f}   ({large['ngrams']:,} n-grams; target: under 30 s)")


if __name__ == "__main__":
    main()
