"""Flickr8k captioning: soft attention against none at the same training budget, scored on the test split.

The first run computes the EfficientNet-Lite0 features (timed separately: it is not training)
and the second starts from them (``--features``), so both read the very same vectors. Each
trains for ``--minutes`` with the defaults otherwise, then ``rnnkit eval --json`` scores its
best weights on the 1,000 test photos against all five references, greedy and with beam 3.
Prints one table. Published for scale (Xu et al. 2015, table 1, Flickr8k, BLEU-1..4): soft
attention 67.0 / 44.8 / 29.9 / 19.5, hard 67.0 / 45.7 / 31.4 / 21.3 (VGG encoder); Google NIC
(Vinyals et al.) 63 / 41 / 27 / - (GoogLeNet). Their BLEU is the COCO toolkit's, not sacrebleu's.

    python benchmarks/caption.py [--minutes 30] [--data ../shared/data/flickr8k]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "flickr8k"


def train(data: Path, attention: str, minutes: float, run: Path, features: Path | None) -> tuple[int, float]:
    """(steps trained, feature seconds) of one run."""
    command = [sys.executable, "-m", "rnnkit", "train", "caption", str(data), "--attention", attention,
               "--minutes", str(minutes), "--out", str(run), "--no-progress", "--device", "cpu"]
    command += ["--features", str(features)] if features else []
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(done.stderr.strip().splitlines()[-1])
    found = re.search(r"features: [\d,]+ images through \S+ in ([\d.]+) s", done.stderr)
    steps = max(json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines())
    return steps, float(found.group(1)) if found else 0.0


def scores(run: Path, beam: int) -> dict:
    done = subprocess.run([sys.executable, "-m", "rnnkit", "eval", str(run), "--beam", str(beam), "--json",
                           "--device", "cpu"], capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--data", type=Path, default=SHARED)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="caption-bench-"))
    rows, features = [], None
    for attention in ("soft", "none"):
        run = work / attention
        steps, seconds = train(args.data, attention, args.minutes, run, features)
        features = features or run / "features.safetensors"
        for beam in (1, 3):
            rows.append((attention, steps, beam, scores(run, beam), seconds))
    print(f"| attention | steps in {args.minutes:g} min | search | BLEU-1 | BLEU-2 | BLEU-3 | BLEU-4 | CIDEr-D |")
    print("|---|---|---|---|---|---|---|---|")
    for attention, steps, beam, s, _ in rows:
        search = "greedy" if beam == 1 else f"beam {beam}"
        print(f"| {attention} | {steps:,} | {search} | {s['bleu1']:.1f} | {s['bleu2']:.1f} | {s['bleu3']:.1f} | "
              f"{s['bleu4']:.1f} | {s['cider']:.3f} |")
    print(f"\nfeature extraction (not in the budget): {rows[0][4]:.0f} s for every photo of the split")


if __name__ == "__main__":
    main()
