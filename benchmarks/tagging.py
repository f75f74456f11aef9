"""Test scores of `rnnkit train tag` with its defaults under a time budget: UD English EWT (UPOS) and WNUT-17
(entities, with and without the CRF), beside the published BiLSTM figures.

Each row is one command a user would type, `rnnkit train tag DATA --minutes M [FLAGS]`, on the official
splits (train, dev for early stopping, test reported), then `rnnkit eval RUN --json` on the test split.
Prints one table.

    python benchmarks/tagging.py [--minutes 15] [--only ewt wnut wnut-crf] [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
# name -> (folder, flags, metric, what the literature reports for a comparable BiLSTM)
RUNS = {
    "ewt": ("ud-en-ewt", [], "accuracy", "bi-LSTM w+c, Plank et al. 2016: 96.40 UPOS, the mean over 22 UD "
            "languages"),
    "wnut": ("wnut17", [], "f1", "41.86, the shared task's best (Aguilar et al. 2017: BiLSTM-CNN + CRF with "
             "gazetteers and POS); 45.55 (Aguilar et al. 2018)"),
    "wnut-crf": ("wnut17", ["--crf", "--constrain-bio"], "f1", "as above"),
}


def rnnkit(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rnnkit", *args], capture_output=True, text=True, check=True)


def one_run(name: str, data: Path, minutes: float, folder: Path) -> dict:
    subdir, flags, metric, published = RUNS[name]
    run = folder / name
    started = time.perf_counter()
    rnnkit("train", "tag", str(data / subdir), "--minutes", str(minutes), *flags, "--no-progress", "--out", str(run))
    seconds = time.perf_counter() - started
    scores = json.loads(rnnkit("eval", str(run), "--json").stdout)
    steps = max(json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines())
    return {"name": name, "flags": " ".join(flags) or "(defaults: softmax)", "metric": metric,
            "score": scores[metric], "steps": steps, "seconds": seconds, "published": published}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=15.0)
    parser.add_argument("--only", nargs="+", choices=list(RUNS), default=list(RUNS))
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        rows = [one_run(name, args.data, args.minutes, Path(folder)) for name in args.only]
    print(f"rnnkit train tag DATA --minutes {args.minutes:g}, then rnnkit eval RUN --json on the test split")
    print("| data | flags | steps | wall time | test score | published |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        label = "UPOS accuracy" if row["metric"] == "accuracy" else "entity F1"
        print(f"| {RUNS[row['name']][0]} | {row['flags']} | {row['steps']:,} | {row['seconds'] / 60:.1f} min | "
              f"{label} **{100 * row['score']:.2f}** | {row['published']} |")


if __name__ == "__main__":
    main()
