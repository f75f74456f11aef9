"""Data-parallel training on 2 gloo ranks (CPU): the same weights and scores as one process with the
same global batch, resumed and restarted runs included. Each launch is a real torchrun."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

from rnnkit.cli import main
from tests.test_classify import synthetic_names, write_class_folder
from tests.test_forecast import write_csv
from tests.test_tag import make_neighbour_data
from tests.test_translate import synthetic_pairs

LM = ["--hidden-size", "32", "--num-layers", "2", "--batch-size", "8", "--seq-len", "32", "--dropout", "0",
      "--backend", "eager", "--precision", "fp32", "--warmup-steps", "2", "--device", "cpu", "--no-progress"]
CLASSIFY = ["--hidden-size", "24", "--embedding-size", "12", "--batch-size", "15", "--dropout", "0",
            "--warmup-steps", "2", "--class-weights", "--device", "cpu", "--no-progress"]
TRANSLATE = ["--hidden-size", "32", "--embedding-size", "16", "--batch-size", "16", "--dropout", "0",
             "--precision", "fp32", "--warmup-steps", "2", "--device", "cpu", "--no-progress"]  # bf16 sums drift
WORKER_ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def rnnkit(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rnnkit", *args], capture_output=True, text=True,
                          timeout=timeout, env=WORKER_ENV)


def torchrun(*args: str) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", *args]


def weights(run: Path) -> dict[str, np.ndarray]:
    return load_file(str(run / "last.safetensors"))


def assert_same_weights(a: Path, b: Path, tolerance: float = 1e-6) -> None:
    first, second = weights(a), weights(b)
    assert first.keys() == second.keys()
    worst = max(float(np.abs(first[k] - second[k]).max()) for k in first)
    assert worst <= tolerance, f"weights differ by {worst}"


def last_validation(run: Path) -> dict:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [r for r in rows if "val_loss" in r][-1]


@pytest.fixture(scope="module")
def text(tmp_path_factory) -> Path:
    rng = np.random.default_rng(0)
    words = ["the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog", "and", "the", "cat", "sat",
             "on", "its", "mat"]
    path = tmp_path_factory.mktemp("text") / "words.txt"
    path.write_text("\n".join(" ".join(rng.choice(words, 10)) for _ in range(800)) + "\n", encoding="utf-8")
    return path


def test_two_ranks_train_a_language_model_as_one_process_with_the_same_global_batch(tmp_path, text):
    one, two = tmp_path / "one", tmp_path / "two"
    assert main(["train", "lm", str(text), *LM, "--steps", "5", "--eval-every", "5", "--out", str(one)]) == 0
    done = rnnkit("train", "lm", str(text), *LM, "--steps", "5", "--eval-every", "5", "--out", str(two),
                  "--nproc", "2")
    assert done.returncode == 0, done.stderr
    assert_same_weights(one, two)
    assert last_validation(two)["val_loss"] == pytest.approx(last_validation(one)["val_loss"], rel=1e-6)
    recorded = json.loads((two / "config.json").read_text())["distributed"]
    assert recorded["world_size"] == 2 and recorded["backend"] == "gloo" and recorded["devices"] == ["cpu", "cpu"]
    assert done.stdout.count("validation") == 1  # one summary: the leader's


def train_on_one_and_on_two(folder: Path, task: str, data: Path, flags: list[str], steps: int) -> tuple[dict, dict]:
    """The same run as one process and as 2 ranks: same weights (asserted); both last validations."""
    one, two = folder / f"{task}-1", folder / f"{task}-2"
    common = ["train", task, str(data), *flags, "--steps", str(steps), "--eval-every", str(steps)]
    assert main([*common, "--out", str(one)]) == 0
    done = rnnkit(*common, "--out", str(two), "--nproc", "2")
    assert done.returncode == 0, done.stderr
    assert_same_weights(one, two)
    first, second = last_validation(one), last_validation(two)
    assert second["val_loss"] == pytest.approx(first["val_loss"], rel=1e-6)
    return first, second


def test_a_classifier_and_a_translator_train_on_two_ranks_as_on_one(tmp_path):
    write_class_folder(tmp_path / "names", synthetic_names(300, seed=1))
    synthetic_pairs(tmp_path / "pairs.tsv", "reverse", 400, seed=2)
    # 15 names a batch split 8 + 7 (weighted by class), a short last batch, and padded pairs
    for task, data, flags in (("classify", tmp_path / "names", CLASSIFY), ("translate", tmp_path / "pairs.tsv",
                                                                          TRANSLATE)):
        first, second = train_on_one_and_on_two(tmp_path, task, data, flags, steps=6)
        assert second["val_objective"] == pytest.approx(first["val_objective"], abs=1e-9)


def other_tasks(folder: Path) -> list[tuple[str, Path, list[str]]]:
    """Line models (conditioned on a label), forecasters and taggers, each on a small data set."""
    write_class_folder(folder / "names", synthetic_names(200, seed=3))
    t = np.arange(400)
    write_csv(folder / "series.csv", np.round(np.sin(t / 6.0) + 0.01 * t, 4))
    make_neighbour_data(folder / "tagged", sentences=300)
    small = ["--hidden-size", "24", "--batch-size", "15", "--dropout", "0", "--warmup-steps", "2", "--device",
             "cpu", "--no-progress"]
    return [("lines", folder / "names", [*small, "--embedding-size", "12", "--condition-on", "label"]),
            ("forecast", folder / "series.csv", [*small, "--lookback", "12", "--season", "30"]),
            ("tag", folder / "tagged", [*small, "--embedding-size", "12"])]


def test_line_models_forecasters_and_taggers_train_on_two_ranks_as_on_one(tmp_path):
    for task, data, flags in other_tasks(tmp_path):
        train_on_one_and_on_two(tmp_path, task, data, flags, steps=4)


def test_resuming_under_two_ranks_and_then_one_continues_exactly(tmp_path, text):
    # a constant learning rate after warm-up, so a budget of 3 steps stopped at 3 is 9 steps stopped at 3
    flags = [*LM, "--schedule", "constant", "--eval-every", "3"]
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    assert main(["train", "lm", str(text), *flags, "--steps", "9", "--out", str(whole)]) == 0
    first = rnnkit("train", "lm", str(text), *flags, "--steps", "3", "--out", str(parts), "--nproc", "2")
    assert first.returncode == 0, first.stderr
    second = rnnkit("resume", str(parts), "--steps", "6", "--nproc", "2", "--no-progress")
    assert second.returncode == 0, second.stderr
    assert "resuming at step 3" in second.stderr
    # the carried state is saved for the whole batch, so one process can take over
    assert main(["resume", str(parts), "--steps", "9", "--no-progress"]) == 0
    assert_same_weights(whole, parts)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_two_nodes_on_loopback_train_as_one_process(tmp_path, text):
    one, two = tmp_path / "one", tmp_path / "two"
    assert main(["train", "lm", str(text), *LM, "--steps", "5", "--eval-every", "5", "--out", str(one)]) == 0
    rendezvous = ["--nnodes", "2", "--nproc-per-node", "1", "--rdzv-backend", "c10d",
                  "--rdzv-endpoint", f"127.0.0.1:{free_port()}", "--rdzv-id", "loopback"]
    command = ["-m", "rnnkit", "train", "lm", str(text), *LM, "--steps", "5", "--eval-every", "5",
               "--out", str(two)]
    nodes = [subprocess.Popen(torchrun(*rendezvous, "--node-rank", str(rank), *command), env=WORKER_ENV,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for rank in (0, 1)]
    for node in nodes:
        _, err = node.communicate(timeout=120)
        assert node.returncode == 0, err
    assert json.loads((two / "config.json").read_text())["distributed"]["world_size"] == 2
    assert_same_weights(one, two)


def workers_of(launcher: subprocess.Popen) -> list[int]:
    children = Path(f"/proc/{launcher.pid}/task/{launcher.pid}/children")
    return [int(pid) for pid in children.read_text().split()] if children.exists() else []


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="finds the workers through /proc (Linux)")
def test_a_worker_killed_mid_run_restarts_the_group_from_its_last_checkpoint(tmp_path, text):
    flags = [*LM, "--hidden-size", "64", "--seq-len", "64", "--steps", "80", "--eval-every", "10"]
    whole, killed = tmp_path / "whole", tmp_path / "killed"

    def launch(run: Path) -> subprocess.Popen:
        return subprocess.Popen(torchrun("--standalone", "--nproc-per-node", "2", "--max-restarts", "1", "-m",
                                         "rnnkit", "train", "lm", str(text), *flags, "--out", str(run)),
                                env=WORKER_ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    uninterrupted = launch(whole)
    assert uninterrupted.wait(timeout=120) == 0, uninterrupted.stderr.read()
    launcher = launch(killed)
    try:
        deadline = time.monotonic() + 60
        while not (killed / "checkpoints" / "step-00000020").exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        victims = workers_of(launcher)
        assert len(victims) == 2, "torchrun's two workers"
        os.kill(victims[1], signal.SIGKILL)
        _, err = launcher.communicate(timeout=120)
    finally:
        if launcher.poll() is None:  # nothing left running when the test fails
            for pid in workers_of(launcher):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            launcher.kill()
    assert launcher.returncode == 0, err
    assert "resuming at step" in err and "resuming at step 80" not in err  # restarted mid-run
    steps = [json.loads(line)["step"] for line in (killed / "metrics.jsonl").read_text().splitlines()]
    assert steps == sorted(steps) and steps[-1] == 80  # the logs were cut back to the checkpoint
    assert_same_weights(whole, killed, tolerance=0.0)


def test_sigterm_to_the_launcher_stops_every_rank_at_one_step_with_a_checkpoint(tmp_path, text):
    run = tmp_path / "stopped"
    launcher = subprocess.Popen([sys.executable, "-m", "rnnkit", "train", "lm", str(text), *LM, "--steps", "100000",
                                 "--eval-every", "20", "--out", str(run), "--nproc", "2"],
                                env=WORKER_ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not (run / "checkpoints" / "step-00000020").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    launcher.send_signal(signal.SIGTERM)
    _, err = launcher.communicate(timeout=60)
    assert launcher.returncode == 128 + signal.SIGTERM
    said = [line for line in err.splitlines() if line.startswith("rnnkit:")]
    assert len(said) == 1 and said[0].startswith("rnnkit: stopped by SIGTERM at step ")
    step = int(said[0].split("at step ")[1].split(";")[0])
    assert (run / "checkpoints" / f"step-{step:08d}").exists()  # both ranks stopped at that step
    assert "Traceback" not in err


def test_a_batch_the_ranks_cannot_share_is_one_line_before_any_work(tmp_path, text):
    done = rnnkit("train", "lm", str(text), *LM, "--batch-size", "5", "--steps", "2", "--out",
                  str(tmp_path / "odd"), "--nproc", "2")
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if line.strip()]
    assert errors == ["rnnkit: error: --batch-size 5 does not split over 2 processes: the global batch must be "
                      "a multiple of 2 (4 or 6)"]
    assert not (tmp_path / "odd").exists()
