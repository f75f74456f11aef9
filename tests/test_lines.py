"""Line models: whole lines with an end token, conditioned on a label, sampled until they end."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from rnnkit.cli import main
from rnnkit.decode.sampling import generate_lines
from rnnkit.tasks.lines.model import LineConfig, LineModel
from rnnkit.tasks.lines.task import IGNORE, line_batch
from rnnkit.tasks.sections import ModelConfig

TINY = ["--hidden-size", "32", "--embedding-size", "16", "--batch-size", "16", "--eval-every", "25",
        "--warmup-steps", "5", "--progress"]
WORDS = {"Soft": ["abba", "baba", "cabbac", "acab", "bacca", "abc"], "Hard": ["xyzzy", "zyx", "yxxz", "zzyx",
                                                                            "xzy", "yzyx"]}


def rnnkit(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rnnkit", *args], capture_output=True, text=True, timeout=300)


def test_lines_read_from_the_boundary_and_are_scored_up_to_it():
    inputs, targets, lengths = line_batch([np.array([4, 5, 6]), np.array([7])], boundary=9)
    assert inputs.tolist() == [[9, 4, 5, 6], [9, 7, 9, 9]]
    assert targets.tolist() == [[4, 5, 6, 9], [7, 9, IGNORE, IGNORE]]
    assert lengths.tolist() == [4, 2]


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("labels", [0, 3])
def test_the_sampling_stepper_matches_a_full_forward(cell, labels):
    torch.manual_seed(0)
    model = LineModel(12, labels, ModelConfig(cell=cell, hidden_size=16, embedding_size=8, num_layers=2),
                      LineConfig(condition_on="label" if labels else "none", label_size=5)).eval()
    ids = torch.randint(0, 12, (4, 7))
    label_ids = torch.tensor([2, 0, 2, 1]) if labels else None
    full, _ = model(ids, label_ids)
    stepper = model.conditioned(label_ids).make_stepper()
    state = None
    for t in range(ids.shape[1]):
        logits, state = stepper.step(ids[:, t], state)
        torch.testing.assert_close(logits, full[:, t], rtol=1e-5, atol=1e-5)


class CountingModel(torch.nn.Module):
    """Emits token 1 until row r has produced r + 1 tokens, then the end token 0."""

    def forward(self, ids, state=None):
        return self._logits(torch.zeros(ids.shape[0], dtype=torch.long)), torch.zeros(ids.shape[0])

    def _logits(self, produced):
        logits = torch.full((len(produced), 3), -1e9)
        rows = torch.arange(len(produced))
        logits[rows, torch.where(produced > rows, 0, 1)] = 0.0
        return logits[:, None, :]

    def make_stepper(self):
        model = self

        class Stepper:
            def step(self, tokens, state):
                produced = state + 1
                return model._logits(produced.long())[:, 0], produced

        return Stepper()


def test_generation_stops_at_the_end_token_row_by_row():
    lines = generate_lines(CountingModel(), torch.zeros(3, 1, dtype=torch.long), 50, end=0)
    assert lines == [[1], [1, 1], [1, 1, 1]]
    assert generate_lines(CountingModel(), torch.zeros(3, 1, dtype=torch.long), 2, end=0) == [[1], [1, 1], [1, 1]]


@pytest.fixture(scope="module")
def conditioned_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lines")
    for label, words in WORDS.items():
        (folder / f"{label}.txt").write_text("\n".join(words * 3) + "\n")
    run = folder / "run"
    assert main(["train", "lines", str(folder), "--condition-on", "label", *TINY, "--steps", "150",
                 "--lr", "1e-2", "--dropout", "0", "--keep-duplicates", "--out", str(run)]) == 0
    return run, folder


def test_conditional_samples_are_reproducible_respect_the_label_and_end(conditioned_run):
    run, _ = conditioned_run
    soft = rnnkit("sample", str(run), "--label", "Soft", "--num", "20", "--seed", "7", "--json")
    again = rnnkit("sample", str(run), "--label", "Soft", "--num", "20", "--seed", "7", "--json")
    other = rnnkit("sample", str(run), "--label", "Soft", "--num", "20", "--seed", "8", "--json")
    assert soft.returncode == 0, soft.stderr
    assert soft.stdout == again.stdout != other.stdout
    soft_lines = json.loads(soft.stdout)["samples"]
    hard_lines = json.loads(rnnkit("sample", str(run), "--label", "Hard", "--num", "20", "--json").stdout)["samples"]
    soft_chars, hard_chars = set("".join(soft_lines)), set("".join(hard_lines))
    assert soft_chars <= set("abc") and hard_chars <= set("xyz"), (soft_lines, hard_lines)
    assert all(0 < len(line) <= 12 for line in soft_lines + hard_lines)  # each ended with the end token
    primed = json.loads(rnnkit("sample", str(run), "--label", "Hard", "--prime", "zz", "--num", "5",
                               "--json").stdout)["samples"]
    assert all(line.startswith("zz") for line in primed)


def test_label_errors_are_one_line(conditioned_run):
    run, _ = conditioned_run
    for args, expected in ((["--label", "Loud"], "not one of the run's labels"), ([], "pass --label")):
        result = rnnkit("sample", str(run), *args)
        assert result.returncode == 2 and expected in result.stderr, result.stderr


def test_novelty_splits_samples_into_training_held_out_and_new(conditioned_run):
    run, folder = conditioned_run
    result = rnnkit("sample", str(run), "--label", "Soft", "--num", "200", "--novelty", str(folder), "--json")
    report = json.loads(result.stdout)
    shares = report["novelty"]
    assert shares["in_training"] + shares["in_held_out"] + shares["new"] == pytest.approx(1.0)
    training = {json.loads(line)["text"] for line in (run / "train.jsonl").read_text().splitlines()}
    assert shares["in_training"] == pytest.approx(sum(s in training for s in report["samples"]) / 200)
    every_line = {line for path in folder.glob("*.txt") for line in path.read_text().splitlines()}
    held_out = every_line - training
    assert shares["in_held_out"] == pytest.approx(sum(s in held_out for s in report["samples"]) / 200)
    assert shares["in_training"] > 0.1  # a model this small and this trained often repeats a line


def test_an_unconditioned_line_model_trains_evaluates_and_resumes_exactly(tmp_path):
    names = [f"{a}{b}{c}" for a in "bcdfg" for b in "aeiou" for c in ("na", "ra", "lo", "x", "")]
    data = tmp_path / "names.txt"
    data.write_text("\n".join(names) + "\n")
    common = ["lines", str(data), *TINY, "--dropout", "0.1", "--schedule", "constant"]
    assert main(["train", *common, "--steps", "50", "--out", str(tmp_path / "whole")]) == 0
    assert main(["train", *common, "--steps", "25", "--out", str(tmp_path / "split")]) == 0
    assert main(["resume", str(tmp_path / "split"), "--steps", "50"]) == 0
    whole, split = (load_file(tmp_path / name / "last.safetensors") for name in ("whole", "split"))
    for key in whole:
        assert torch.equal(whole[key], split[key]), key
    scored = json.loads(rnnkit("eval", str(tmp_path / "whole"), "--json").stdout)
    test_lines = (tmp_path / "whole" / "test.jsonl").read_text().splitlines()
    assert scored["lines"] == len(test_lines)
    assert scored["tokens"] == sum(len(json.loads(line)["text"]) + 1 for line in test_lines)
    assert 0 < scored["nats_per_token"] < np.log(27)  # better than uniform over the letters and the end
    logged = [json.loads(line) for line in (tmp_path / "whole" / "metrics.jsonl").read_text().splitlines()]
    assert any("val_nats_per_token" in record for record in logged)
