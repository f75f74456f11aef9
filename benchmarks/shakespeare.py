"""Validation loss on Tiny Shakespeare after 1, 2, 5 and 10 minutes of `rnnkit train`.

Each budget is a separate run with the default configuration (so the learning-rate
schedule decays over the budget it is given), trained on the first 90% and scored
over the whole last 10% with the state carried; "best seen" is the lowest of the
run's validations (the weights `model.safetensors` keeps). Prints one table.

    python benchmarks/shakespeare.py ../shared/data/tinyshakespeare.txt [--minutes 1 2 5 10]
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

from rnnkit.cli import build_parser
from rnnkit.cli.train import train_request
from rnnkit.runtime import keep_freed_memory
from rnnkit.tasks.lm import run as lm_run
from rnnkit.tasks.lm.commands import budget_defaults

TARGETS = {1.0: 1.62, 10.0: 1.40}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path)
    parser.add_argument("--minutes", type=float, nargs="+", default=[1, 2, 5, 10])
    args, extra = parser.parse_known_args()
    keep_freed_memory()  # as `rnnkit train` does
    rows = []
    for minutes in args.minutes:
        request = train_request(build_parser().parse_args(
            ["train", "lm", str(args.path), "--minutes", str(minutes), *extra]))
        budget_defaults(request)  # the budget's defaults, as `rnnkit train` chooses them
        configs = [request.sections[name] for name in ("model", "train", "data")]
        with tempfile.TemporaryDirectory() as tmp:
            started = time.perf_counter()
            _, final = lm_run.train([str(args.path)], *configs, str(Path(tmp) / "run"), "cpu", False)
            wall = time.perf_counter() - started
        rows.append((minutes, final["step"], final["nats_per_char"], final["best_objective"], wall))
        print(f"  done: {minutes:g} min -> {final['nats_per_char']:.4f} nats/char", flush=True)
    print(f"\nTiny Shakespeare, default configuration{' + ' + ' '.join(extra) if extra else ''}")
    print(f"{'budget':>8} {'steps':>7} {'val nats/char':>14} {'bits/char':>10} {'best seen':>10} {'target':>11} "
          f"{'wall s':>7}")
    for minutes, steps, nats, best, wall in rows:
        target = TARGETS.get(minutes, math.nan)
        mark = "" if math.isnan(target) else (" ok" if nats <= target else " miss")
        print(f"{minutes:>7g}m {steps:>7} {nats:>14.4f} {nats / math.log(2):>10.4f} {best:>10.4f} "
              f"{target:>6.2f}{mark:<5} {wall:>7.1f}")


if __name__ == "__main__":
    main()
