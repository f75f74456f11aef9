"""Tiny runs of every served task, and a real `rnnkit serve` process on a free loopback port."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from rnnkit.cli import main

QUIET = ["--no-progress", "--warmup-steps", "2"]


def rnnkit(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rnnkit", *args], capture_output=True, text=True, timeout=300,
                          input=stdin)


def train_translator(folder: Path) -> Path:
    rng = np.random.default_rng(3)
    lines = []
    for _ in range(1500):
        words = [str(w) for w in rng.integers(0, 10, size=rng.integers(3, 7))]
        lines.append(" ".join(words) + "\t" + " ".join(words[::-1]))
    (folder / "pairs.tsv").write_text("\n".join(lines) + "\n")
    run = folder / "translate"
    assert main(["train", "translate", str(folder / "pairs.tsv"), "--hidden-size", "32", "--embedding-size", "16",
                 "--batch-size", "32", "--steps", "120", "--eval-every", "120", "--lr", "5e-3", "--dropout", "0",
                 *QUIET, "--out", str(run)]) == 0
    return run


def train_classifier(folder: Path) -> Path:
    rng = np.random.default_rng(2)
    data = folder / "names"
    data.mkdir()
    for label, syllables in (("East", ["ka", "to", "mi", "ko"]), ("West", ["ov", "sky", "an", "ko"])):
        words = ["".join(rng.choice(syllables, size=rng.integers(2, 5))).capitalize() for _ in range(150)]
        (data / f"{label}.txt").write_text("\n".join(words) + "\n")
    run = folder / "classify"
    assert main(["train", "classify", str(data), "--hidden-size", "24", "--embedding-size", "12", "--batch-size",
                 "16", "--steps", "60", "--eval-every", "30", "--lr", "1e-2", *QUIET, "--out", str(run)]) == 0
    return run


def train_tagger(folder: Path) -> Path:
    rng = np.random.default_rng(5)
    blocks = []
    for _ in range(300):
        words = [str(w) for w in rng.choice(["the", "cat", "Paris", "sees", "Rome", "a", "dog"],
                                            size=rng.integers(2, 7))]
        blocks.append("".join(f"{w}\t{'B-LOC' if w[0].isupper() else 'O'}\n" for w in words))
    (folder / "places.conll").write_text("\n".join(blocks))
    run = folder / "tag"
    assert main(["train", "tag", str(folder / "places.conll"), "--hidden-size", "16", "--embedding-size", "8",
                 "--char-hidden-size", "4", "--crf", "--batch-size", "16", "--steps", "40", "--eval-every", "40",
                 *QUIET, "--out", str(run)]) == 0
    return run


def train_forecaster(folder: Path) -> Path:
    values = np.round(10 + 5 * np.sin(np.arange(400) / 9.0), 3)
    days = np.datetime64("2001-01-01") + np.arange(len(values))
    (folder / "temps.csv").write_text("date,value\n" + "".join(f"{d},{v}\n" for d, v in zip(days, values, strict=True)))
    run = folder / "forecast"
    assert main(["train", "forecast", str(folder / "temps.csv"), "--hidden-size", "16", "--batch-size", "32",
                 "--steps", "30", "--eval-every", "30", "--lookback", "14", "--horizon", "2", "--season", "30",
                 "--ar-order", "5", *QUIET, "--out", str(run)]) == 0
    return run


def train_lines(folder: Path) -> Path:
    data = folder / "lines"
    data.mkdir()
    for label, words in (("Soft", ["abba", "baba", "cabbac", "acab", "bacca"]), ("Hard", ["xyzzy", "zyx", "yxxz"])):
        (data / f"{label}.txt").write_text("\n".join(words * 4) + "\n")
    run = folder / "lines-run"
    assert main(["train", "lines", str(data), "--condition-on", "label", "--hidden-size", "32", "--embedding-size",
                 "16", "--batch-size", "16", "--steps", "60", "--eval-every", "30", "--keep-duplicates", *QUIET,
                 "--out", str(run)]) == 0
    return run


def train_ngram(folder: Path, text: Path) -> Path:
    run = folder / "ngram"
    assert main(["train", "ngram", str(text), "--order", "4", "--out", str(run)]) == 0
    return run


@contextlib.contextmanager
def live_server(specs: list[str], *flags: str, env: dict | None = None) -> Iterator[tuple[subprocess.Popen, str]]:
    """`rnnkit serve SPECS --port 0 FLAGS` until the block ends; yields the process and its base URL."""
    server = subprocess.Popen([sys.executable, "-m", "rnnkit", "serve", *specs, "--port", "0", *flags],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = server.stdout.readline()
        assert line.startswith("rnnkit serve: http://"), (line, server.stderr.read() if server.poll() else "")
        yield server, line.split()[2].rstrip("/")
    finally:
        if server.poll() is None:
            server.terminate()
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                server.kill()


def sse_events(lines: Iterator[str]) -> Iterator[tuple[str, dict]]:
    """(event name, data) from a Server-Sent Events stream's lines."""
    name = "message"
    for line in lines:
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            yield name, json.loads(line[6:])
            name = "message"
