"""Shared fixtures: small real texts and a tiny trained run."""

from __future__ import annotations

from pathlib import Path

import pytest

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
