"""How far the checkpoint early stopping picks on a validation split carved from train is from the
one held-out data would pick; prints one table.

Train with ``--keep`` large enough to keep every checkpoint generation, then point this at the
run and at labelled data it never saw (SST-2's dev set, say). Every generation's weights are
scored on that data; the run's own pick (``model.safetensors``, chosen by validation macro-F1)
is compared with the best of them.

    rnnkit train classify ../shared/data/sst2/train.tsv --no-header --minutes 8 --keep 1000 --out runs/sst2
    python benchmarks/classify_pick.py runs/sst2 ../shared/data/sst2/dev.tsv
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rnnkit.tasks.classify import run as classify_run
from rnnkit.train import checkpoint, generations


def validation_f1(run: Path) -> dict[int, float]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return {row["step"]: row["val_macro_f1"] for row in rows if "val_macro_f1" in row}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("data", nargs="+")
    args = parser.parse_args()
    loaded = classify_run.load(args.run)
    examples = classify_run.read_eval_data(loaded, args.data, "utf-8")
    picked = classify_run.evaluate(loaded, examples, "held-out").accuracy
    val = validation_f1(args.run)
    rows = []
    for folder in sorted((args.run / generations.FOLDER).glob(f"{generations.PREFIX}*")):
        step = checkpoint.load_weights(folder / generations.WEIGHTS, loaded.model, loaded.device)
        rows.append((step, val.get(step, float("nan")), classify_run.evaluate(loaded, examples, "held-out").accuracy))
    best = max(rows, key=lambda row: row[2])
    print(f"| step | validation macro-F1 (carved) | accuracy on {', '.join(args.data)} |")
    print("|---|---|---|")
    for step, f1, accuracy in rows:
        print(f"| {step} | {f1:.4f} | {accuracy:.4f}{' (best held-out)' if step == best[0] else ''} |")
    print(f"\nthe run's pick: {picked:.4f}; the best checkpoint on held-out data: {best[2]:.4f} at step "
          f"{best[0]}; the pick is {best[2] - picked:.4f} below it, over {len(rows)} checkpoints")


if __name__ == "__main__":
    main()
