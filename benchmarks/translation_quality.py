"""Translator quality for a budget: the defaults trained for --minutes, scored on the held-out test split.

For each direction (French to English, English to French on eng-fra, whose lines are English
first), one after the other on this machine: ``rnnkit train translate`` with nothing but the
budget, then ``rnnkit eval RUN`` greedy and with a beam of 5 (at the length penalty the run
tuned on validation), on every test pair. Prints one table.

    python benchmarks/translation_quality.py [--minutes 30] [--directions fr-en en-fr] [--pairs PATH]
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
FLAGS = {"fr-en": ["--reverse-pairs"], "en-fr": []}


def rnnkit(*args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "rnnkit", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"rnnkit {' '.join(args)}: {(done.stderr.strip().splitlines() or ['failed'])[-1]}")
    return done.stdout


def scored(pairs: Path, direction: str, minutes: float, work: Path) -> dict:
    """One direction trained and scored: steps, best validation BLEU, test BLEU greedy and beam 5."""
    run = work / direction
    rnnkit("train", "translate", str(pairs), *FLAGS[direction], "--minutes", str(minutes), "--out", str(run),
           "--no-progress")
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    validations = [r for r in rows if "val_bleu" in r]
    config = json.loads((run / "config.json").read_text())
    greedy, beam = (json.loads(rnnkit("eval", str(run), "--json", *flags)) for flags in ([], ["--beam", "5"]))
    units = config["data"]["tokenizer"], config["pairs"].get("target_tokenizer") or config["data"]["tokenizer"]
    speeds = [r["tokens_per_s"] for r in rows if r.get("tokens_per_s")]
    return {"steps": rows[-1]["step"], "val": max(r["val_bleu"] for r in validations),
            "units": " / ".join(units), "speed": statistics.median(speeds) if speeds else 0,
            "greedy": greedy["bleu"], "beam": beam["bleu"], "alpha": config.get("length_penalty", {}).get("alpha", 0),
            "precision": config["train"]["precision"], "unknown": beam["unknown_in_output"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--directions", nargs="+", choices=sorted(FLAGS), default=["fr-en", "en-fr"])
    parser.add_argument("--pairs", type=Path, default=SHARED)
    args = parser.parse_args()
    if not args.pairs.exists():
        raise SystemExit(f"{args.pairs}: no such file; pass --pairs with a TSV of English<TAB>French pairs")
    work = Path(tempfile.mkdtemp())
    print(f"{args.pairs.name}, the translator's defaults, {args.minutes:g} minutes a direction, "
          "test sacreBLEU on every held-out pair")
    print("| direction | tokens (source / target) | precision | steps | median target tokens/s "
          "| best val BLEU (greedy, 1,000 pairs) | test greedy | test beam 5 | alpha | `<unk>` in beam output |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for direction in args.directions:
        found = scored(args.pairs, direction, args.minutes, work)
        print(f"| {direction} | {found['units']} | {found['precision']} | {found['steps']:,} | {found['speed']:,.0f} "
              f"| {found['val']:.2f} | {found['greedy']:.2f} | {found['beam']:.2f} | {found['alpha']:g} "
              f"| {found['unknown']:,} |", flush=True)


if __name__ == "__main__":
    main()
