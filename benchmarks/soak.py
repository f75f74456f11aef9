"""Soak: a long training run checkpointing every 50 steps, watched from outside; prints one table.

A run that checkpoints thousands of times must not grow: resident memory and open file
descriptors flat after warm-up, and the run directory bounded by ``--keep`` generations
(plus the logs, which grow by one line per 10 steps and one per validation). Linux only:
it reads /proc of the training process.

    python benchmarks/soak.py [--minutes 20] [--every 60]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LOGS = ("metrics.jsonl", "samples.jsonl")


def resident_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def open_files(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def disk_mb(run: Path, logs: bool) -> float:
    files = [p for p in run.rglob("*") if p.is_file() and (p.name in LOGS) == logs]
    return sum(p.stat().st_size for p in files) / 1e6


def watch(process: subprocess.Popen, run: Path, every: float) -> list[tuple]:
    rows, started = [], time.time()
    while process.poll() is None:
        time.sleep(every)
        if process.poll() is not None or not run.exists():
            continue
        generations = len(list((run / "checkpoints").glob("step-*"))) if (run / "checkpoints").exists() else 0
        rows.append((round(time.time() - started), resident_mb(process.pid), open_files(process.pid),
                     disk_mb(run, logs=False), disk_mb(run, logs=True), generations))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=20.0)
    parser.add_argument("--every", type=float, default=60.0, help="seconds between readings")
    parser.add_argument("--keep", type=int, default=2)
    args = parser.parse_args()
    run = Path(tempfile.mkdtemp(prefix="soak-")) / "run"
    command = [sys.executable, "-m", "rnnkit", "train", "lm", "python-stdlib", "--minutes", str(args.minutes),
               "--eval-every", "50", "--keep", str(args.keep), "--out", str(run), "--no-progress"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    rows = watch(process, run, args.every)
    if process.returncode != 0:
        sys.exit(f"training failed: {process.stderr.read()[-2000:]}")
    print(f"| seconds | resident MB | open fds | checkpoints MB | logs MB | generations (--keep {args.keep}) |")
    print("|---|---|---|---|---|---|")
    for seconds, rss, fds, disk, logs, kept in rows:
        print(f"| {seconds} | {rss:.0f} | {fds} | {disk:.1f} | {logs:.2f} | {kept} |")
    warm = rows[len(rows) // 4:] or rows
    print(f"\nafter warm-up: resident {min(r[1] for r in warm):.0f}-{max(r[1] for r in warm):.0f} MB, "
          f"open fds {min(r[2] for r in warm)}-{max(r[2] for r in warm)}, checkpoints "
          f"{min(r[3] for r in warm):.1f}-{max(r[3] for r in warm):.1f} MB, at most {max(r[5] for r in rows)} "
          f"generations on disk")


if __name__ == "__main__":
    main()
