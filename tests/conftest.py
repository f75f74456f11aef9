"""Shared fixtures: small real texts and a tiny trained run."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Under pytest-xdist the workers share the cores: each gets its share of the threads, and so do the
# processes its tests start.
WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0"))
if WORKERS:
    os.environ["OMP_NUM_THREADS"] = str(max(1, len(os.sched_getaffinity(0)) // WORKERS))


def pytest_configure(config: pytest.Config) -> None:
    if WORKERS:
        import torch

        torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))

SLICE = Path(__file__).parent / "data" / "tinyshakespeare-60k.txt"


@pytest.fixture(scope="session")
def shakespeare_slice(tmp_path_factory) -> Path:
    """The first 60,000 characters of Tiny Shakespeare (public domain), committed with the tests so
    they run the same on any machine; only the benchmarks read ../shared. A copy, so a test may
    write beside it."""
    path = tmp_path_factory.mktemp("data") / "shakespeare.txt"
    path.write_bytes(SLICE.read_bytes())
    return path


TINY = ["--hidden-size", "32", "--num-layers", "2", "--batch-size", "8", "--seq-len", "16",
        "--eval-every", "10", "--sample-length", "20", "--warmup-steps", "2"]


@pytest.fixture(scope="session")
def tiny_lm_run(tmp_path_factory, shakespeare_slice) -> Path:
    """A two-layer character LSTM trained for 20 steps: enough to have a run, a tokenizer and weights."""
    from rnnkit.cli import main

    run = tmp_path_factory.mktemp("tiny") / "run"
    assert main(["train", "lm", str(shakespeare_slice), *TINY, "--steps", "20", "--out", str(run),
                 "--no-progress"]) == 0
    return run


@pytest.fixture(scope="session")
def served_runs(tmp_path_factory, tiny_lm_run, shakespeare_slice) -> dict[str, Path]:
    """One tiny run of each served task, named as the server names them."""
    from serve_helpers import (
        train_classifier,
        train_forecaster,
        train_lines,
        train_ngram,
        train_tagger,
        train_translator,
    )

    folder = tmp_path_factory.mktemp("served")
    return {"lm": tiny_lm_run, "translate": train_translator(folder), "classify": train_classifier(folder),
            "forecast": train_forecaster(folder), "lines": train_lines(folder),
            "ngram": train_ngram(folder, shakespeare_slice), "tag": train_tagger(folder)}


@pytest.fixture(scope="session")
def live(served_runs):
    """A real `rnnkit serve` over every served run: 32 generation rows per model and no waiting places,
    so a 33rd stream is refused with 503."""
    from serve_helpers import live_server

    with live_server([f"{name}={path}" for name, path in served_runs.items()], "--max-batch", "32",
                     "--max-waiting", "0") as (_, url):
        yield url
