"""Shared fixtures: small real texts and a tiny trained run."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def shakespeare_slice(tmp_path_factory) -> Path:
    """The first 60,000 characters of Tiny Shakespeare, or a skip when ../shared is absent."""
    source = SHARED / "tinyshakespeare.txt"
    if not source.exists():
        pytest.skip("../shared/data/tinyshakespeare.txt is not on this machine")
    path = tmp_path_factory.mktemp("data") / "shakespeare.txt"
    path.write_text(source.read_text(encoding="utf-8")[:60_000], encoding="utf-8")
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
