"""Checkpoint generations: nothing a run made is lost to kill -9, a full disk or a damaged pointer."""

from __future__ import annotations

import errno
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from rnnkit.cli import main
from rnnkit.train import generations, state_files

FLAGS = ["--hidden-size", "16", "--embedding-size", "8", "--batch-size", "4", "--seq-len", "16",
         "--eval-every", "1", "--warmup-steps", "1", "--sample-length", "4", "--eval-streams", "2",
         "--backend", "fused", "--precision", "fp32", "--schedule", "constant", "--no-progress"]


@pytest.fixture
def text(tmp_path) -> Path:
    rng = np.random.default_rng(5)
    words = ["".join(rng.choice(list("abcdefgh "), size=rng.integers(2, 7))) for _ in range(3000)]
    path = tmp_path / "text.txt"
    path.write_text(" ".join(words) + "\n")
    return path


def _same_weights(a: Path, b: Path) -> None:
    left, right = load_file(a), load_file(b)
    assert left.keys() == right.keys()
    for key in left:
        assert torch.equal(left[key], right[key]), key


def _logged_steps(run: Path) -> list[int]:
    return [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()
            if "val_loss" in line]


def test_state_files_round_trip_a_loop_state_exactly():
    tree = {"step": 3, "best_score": float("inf"), "optimizer": {"state": {0: {"step": torch.tensor(2.0),
            "exp_avg": torch.randn(3, 2)}}, "param_groups": [{"betas": (0.9, 0.99), "params": [0]}]},
            "task": {"hidden": [(torch.zeros(1, 2), torch.ones(1, 2))]}, "rng": torch.get_rng_state()}
    skeleton, tensors = state_files.split(tree)
    back = state_files.join(json.loads(json.dumps(skeleton)), tensors)
    assert back["step"] == 3 and back["best_score"] == float("inf")
    assert back["optimizer"]["param_groups"][0]["betas"] == (0.9, 0.99)
    assert list(back["optimizer"]["state"]) == [0]
    assert torch.equal(back["optimizer"]["state"][0]["exp_avg"], tree["optimizer"]["state"][0]["exp_avg"])
    assert isinstance(back["task"]["hidden"][0], tuple) and torch.equal(back["rng"], tree["rng"])
    with pytest.raises(TypeError, match="cannot store"):
        state_files.split({"x": object()})


def _wait_for_new_generation(run: Path, after: int | None, process: subprocess.Popen, timeout: float) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline and process.poll() is None:
        found = generations.latest(run) if (run / "checkpoints").exists() else None
        if found is not None and (after is None or found.step > after):
            return True
        time.sleep(0.01)
    return False


# kill -9 is the stop that can land anywhere, so it gets 10; SIGTERM is handled at the end of a step and
# runs the same save path, so 3 stops check its exit code and message (the suite's time budget is shared).
@pytest.mark.parametrize(("stop", "count"), [(signal.SIGKILL, 10), (signal.SIGTERM, 3)], ids=["kill-9", "SIGTERM"])
def test_repeated_stops_at_random_moments_then_resume_end_bit_for_bit_where_one_run_ends(tmp_path, text, stop,
                                                                                          count):
    """Each stop lands a random moment after a new checkpoint appeared: in a step, a validation or
    the middle of writing the next checkpoint. Every resume must continue, and the end must be exact.
    SIGTERM must also exit 143 with the resume command."""
    steps, run, chooser = 160, tmp_path / "stopped", random.Random(7)
    command = [sys.executable, "-m", "rnnkit", "train", "lm", str(text), *FLAGS, "--steps", str(steps),
               "--out", str(run)]
    stops, step = 0, None
    while stops < count:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if not _wait_for_new_generation(run, step, process, timeout=60):
            break  # it finished first
        time.sleep(chooser.uniform(0.0, 0.04))
        process.send_signal(stop)
        _, err = process.communicate(timeout=60)
        if process.returncode == 0:
            break
        if stop == signal.SIGTERM:
            assert process.returncode == 143 and f"continue with: rnnkit resume {run}" in err, err
        else:
            assert process.returncode == -signal.SIGKILL
        stops += 1
        step = generations.latest(run).step
        command = [sys.executable, "-m", "rnnkit", "resume", str(run), "--no-progress"]
    assert stops == count and step < steps
    assert subprocess.run(command, capture_output=True).returncode == 0
    assert main(["train", "lm", str(text), *FLAGS, "--steps", str(steps), "--out", str(tmp_path / "whole")]) == 0
    _same_weights(run / "last.safetensors", tmp_path / "whole" / "last.safetensors")
    _same_weights(run / "model.safetensors", tmp_path / "whole" / "model.safetensors")
    assert _logged_steps(run) == _logged_steps(tmp_path / "whole") == list(range(1, steps + 1))
    assert len(list((run / "checkpoints").glob("step-*"))) == 2  # --keep 2 bounds the disk


class DiskFull:
    """``os.fsync`` and ``os.replace`` fail with ENOSPC on their ``fail_at``-th call from ``start()``."""

    def __init__(self, monkeypatch, fail_at: int, code: int = errno.ENOSPC) -> None:
        self.calls, self.fail_at, self.counting, self.code = 0, fail_at, False, code
        for name in ("fsync", "replace"):
            real = getattr(os, name)
            monkeypatch.setattr(os, name, self._wrap(real))

    def _wrap(self, real):
        def call(*args, **kwargs):
            if self.counting:
                self.calls += 1
                if self.calls == self.fail_at:
                    raise OSError(self.code, os.strerror(self.code))
            return real(*args, **kwargs)
        return call


def _calls_in_one_checkpoint(monkeypatch, run: Path) -> int:
    counter = DiskFull(monkeypatch, fail_at=0)
    counter.counting = True
    assert main(["resume", str(run), "--steps", "3"]) == 0
    monkeypatch.undo()
    return counter.calls


def test_a_full_disk_at_any_write_of_a_checkpoint_keeps_the_previous_one(tmp_path, text, monkeypatch, capsys):
    assert main(["train", "lm", str(text), *FLAGS, "--steps", "4", "--out", str(tmp_path / "whole")]) == 0
    assert main(["train", "lm", str(text), *FLAGS, "--steps", "2", "--out", str(tmp_path / "probe")]) == 0
    writes = _calls_in_one_checkpoint(monkeypatch, tmp_path / "probe")
    assert writes >= 8
    for fail_at in range(1, writes + 1):
        run = tmp_path / f"full-{fail_at}"
        assert main(["train", "lm", str(text), *FLAGS, "--steps", "2", "--out", str(run)]) == 0
        disk = DiskFull(monkeypatch, fail_at)
        disk.counting = True
        capsys.readouterr()
        code = main(["resume", str(run), "--steps", "4"])
        monkeypatch.undo()
        err = capsys.readouterr().err.strip().splitlines()[-1]
        assert code == 2, fail_at
        if "checkpoint" in err:
            assert "could not write the checkpoint of step 3" in err and "step 2 is intact" in err, err
            assert "MB (one checkpoint)" in err and f"rnnkit resume {run}" in err
        else:  # the new budget, written into config.json before training resumes
            assert "config.json" in err and "No space left on device" in err, err
        assert main(["resume", str(run), "--steps", "4"]) == 0, fail_at
        _same_weights(run / "last.safetensors", tmp_path / "whole" / "last.safetensors")
        assert _logged_steps(run) == [1, 2, 3, 4]


def test_a_damaged_pointer_or_a_half_written_generation_falls_back_to_the_newest_complete(tmp_path, text):
    run = tmp_path / "run"
    assert main(["train", "lm", str(text), *FLAGS, "--steps", "3", "--keep", "3", "--out", str(run)]) == 0
    folder = run / "checkpoints"
    assert [p.name for p in sorted(folder.glob("step-*"))] == ["step-00000001", "step-00000002", "step-00000003"]
    (folder / "LATEST").write_text("{not json")
    (folder / "step-00000003" / "state.json").unlink()  # a generation that never finished
    (folder / ".step-00000004.tmp999").mkdir()           # and a staging folder a crash left
    assert generations.latest(run).step == 2
    assert main(["resume", str(run), "--steps", "4"]) == 0
    assert main(["train", "lm", str(text), *FLAGS, "--steps", "4", "--out", str(tmp_path / "whole")]) == 0
    _same_weights(run / "last.safetensors", tmp_path / "whole" / "last.safetensors")
    assert not (folder / ".step-00000004.tmp999").exists()


def test_a_run_from_before_generations_is_converted_on_its_first_resume(tmp_path, text, capsys):
    run = tmp_path / "old"
    assert main(["train", "lm", str(text), *FLAGS, "--steps", "2", "--out", str(run)]) == 0
    latest = generations.latest(run)
    skeleton = json.loads((latest.path / "state.json").read_text())
    state = state_files.join(skeleton, load_file(str(latest.path / "state.safetensors")))
    state.pop("logs")
    torch.save(state, run / "trainer_state.pt")  # what 0.2 wrote, beside last.safetensors (step 2)
    shutil.rmtree(run / "checkpoints")
    capsys.readouterr()
    assert main(["resume", str(run), "--steps", "4"]) == 0
    assert "from trainer_state.pt, converted to checkpoints/step-00000002" in capsys.readouterr().err
    assert not (run / "trainer_state.pt").exists() and generations.latest(run).step == 4
    assert main(["train", "lm", str(text), *FLAGS, "--steps", "4", "--out", str(tmp_path / "whole")]) == 0
    _same_weights(run / "last.safetensors", tmp_path / "whole" / "last.safetensors")


def test_a_read_only_folder_while_checkpointing_says_to_make_it_writable(tmp_path, text, monkeypatch, capsys):
    run = tmp_path / "run"
    assert main(["train", "lm", str(text), *FLAGS, "--steps", "2", "--out", str(run)]) == 0
    disk = DiskFull(monkeypatch, fail_at=3, code=errno.EROFS)  # past config.json: inside the checkpoint
    disk.counting = True
    capsys.readouterr()
    assert main(["resume", str(run), "--steps", "4"]) == 2
    monkeypatch.undo()
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "Read-only file system" in err and f"make {run} writable" in err and "step 2 is intact" in err, err
    assert generations.latest(run).step == 2
