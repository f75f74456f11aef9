"""Weight averaging (--ema, --tail-average, --average, --average-last) and the language model's budget table.

The averages are checked against ones computed by hand from the weights each step left,
through the real loop: what validation sees, what becomes the best weights, what the
checkpoint keeps (the raw weights), and that a resumed run averages as an unbroken one.
"""

from __future__ import annotations

import json
import math

import pytest
import torch
from conftest import TINY
from safetensors.torch import load_file

from rnnkit.cli import main
from rnnkit.config import flag_name
from rnnkit.tasks.lm.budget import BY_MINUTES, BY_PASSES, Pace, regulariser_choices, width_choices
from rnnkit.tasks.lm.pace import OTHER_TOKENS, measured_pace
from rnnkit.tasks.sections import DataConfig, ModelConfig
from rnnkit.train import generations
from rnnkit.train.averaging import WeightAverage, ema_decay
from rnnkit.train.config import TrainConfig
from rnnkit.train.loop import TrainLoop


class Regression:
    """A least-squares task that records the weights each step starts from and each validation sees."""

    unit = "values"

    def __init__(self, model: torch.nn.Linear) -> None:
        self.model = model
        generator = torch.Generator().manual_seed(0)
        self.x = torch.randn(64, 3, generator=generator)
        self.y = self.x @ torch.tensor([[1.0], [-2.0], [0.5]]) + 0.3 * torch.randn(64, 1, generator=generator)
        self.started_from: list[torch.Tensor] = []
        self.validated: dict[int, torch.Tensor] = {}
        self.step = 0

    def weights(self) -> torch.Tensor:
        return torch.cat([p.detach().flatten() for p in self.model.parameters()]).clone()

    def loss(self, step: int) -> torch.Tensor:
        self.started_from.append(self.weights())
        self.step = step + 1
        rows = slice((step * 8) % 64, (step * 8) % 64 + 8)  # mini-batches: a noisy trajectory
        return torch.nn.functional.mse_loss(self.model(self.x[rows]), self.y[rows])

    def units_per_step(self) -> float:
        return 8

    def evaluate(self) -> dict:
        self.validated[self.step] = self.weights()
        with torch.no_grad():
            return {"loss": float(torch.nn.functional.mse_loss(self.model(self.x), self.y))}

    def describe(self, scores: dict, short: bool = False) -> str:
        return f"{scores['loss']:.4f}"

    def sample(self, generator: torch.Generator) -> str:
        return ""

    def carried_state(self) -> dict:
        return {}

    def load_carried_state(self, state: dict) -> None:
        pass


def trained(tmp_path, steps: int, **averaging) -> tuple[Regression, list[torch.Tensor]]:
    """A 20-step run; returns the task and the weights after each step (1..steps)."""
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    task = Regression(model)
    config = TrainConfig(**{"steps": steps, "lr": 0.05, "warmup_steps": 0, "eval_every": 5, **averaging})
    TrainLoop(model, task, config, tmp_path, show_progress=False).fit()
    after = [*task.started_from[1:], task.weights()]  # the raw weights are back once validation ends
    return task, after


def flat(tensors: dict[str, torch.Tensor]) -> torch.Tensor:
    return torch.cat([tensors["weight"].flatten(), tensors["bias"].flatten()])


def test_validation_and_the_best_weights_see_the_exponential_average_computed_by_hand(tmp_path):
    task, after = trained(tmp_path, 20, ema=0.9)
    average, by_step = after[0].clone(), {1: after[0].clone()}
    for n, weights in enumerate(after[1:], start=1):
        keep = min(0.9, (1 + n) / (10 + n))
        average = keep * average + (1 - keep) * weights
        by_step[n + 1] = average.clone()
    assert ema_decay(0.9, 1) == pytest.approx(2 / 11) and ema_decay(0.9, 500) == 0.9
    for step, seen in task.validated.items():
        assert torch.allclose(seen, by_step[step], atol=1e-6), step
        assert not torch.allclose(seen, after[step - 1], atol=1e-4)  # the average, not the last iterate
    best_step = min(task.validated, key=lambda s: float(torch.nn.functional.mse_loss(
        task.x @ by_step[s][:3, None] + by_step[s][3], task.y)))
    assert torch.allclose(flat(load_file(tmp_path / "model.safetensors")), by_step[best_step], atol=1e-6)
    raw = generations.latest(tmp_path).path / generations.WEIGHTS
    assert torch.equal(flat(load_file(raw)), after[-1])  # the checkpoint trains on from the raw weights


def test_the_tail_average_is_the_mean_of_every_step_from_its_fraction_of_the_budget(tmp_path):
    task, after = trained(tmp_path, 20, tail_average=0.5)
    assert torch.equal(task.validated[5], after[4])  # before half way there is no average yet
    for step in (10, 15, 20):
        mean = torch.stack(after[9:step]).mean(0)  # the weights after steps 10..step
        assert torch.allclose(task.validated[step], mean, atol=1e-6), step


def test_average_last_keeps_the_mean_of_the_last_validations_whatever_they_scored(tmp_path):
    (tmp_path / "last").mkdir()
    (tmp_path / "best").mkdir()
    noisy = {"lr": 0.2, "schedule": "constant", "eval_every": 2}  # a trajectory whose last validations are not its best
    task, _ = trained(tmp_path / "last", 20, average_last=3, **noisy)
    best = flat(load_file(tmp_path / "last" / "model.safetensors"))
    assert torch.allclose(best, torch.stack([task.validated[s] for s in (16, 18, 20)]).mean(0), atol=1e-6)
    losses = {s: float(torch.nn.functional.mse_loss(task.x @ w[:3, None] + w[3], task.y))
              for s, w in task.validated.items()}
    best_three = sorted(losses, key=losses.get)[:3]
    assert set(best_three) != {16, 18, 20}  # so the two pools differ on this trajectory
    trained(tmp_path / "best", 20, average=3, **noisy)  # the same run, pooled by score
    by_score = flat(load_file(tmp_path / "best" / "model.safetensors"))
    assert torch.allclose(by_score, torch.stack([task.validated[s] for s in best_three]).mean(0), atol=1e-6)
    assert len(list((tmp_path / "last" / "best").glob("*.safetensors"))) == 3  # older ones deleted
    (tmp_path / "both").mkdir()
    trained(tmp_path / "both", 20, average=5, average_last=3, **noisy)  # --average-last replaces --average
    assert torch.equal(flat(load_file(tmp_path / "both" / "model.safetensors")), best)


def test_without_averaging_validation_sees_the_weights_as_trained(tmp_path):
    task, after = trained(tmp_path, 10)
    assert all(torch.equal(seen, after[step - 1]) for step, seen in task.validated.items())
    assert not WeightAverage().active


def test_a_resumed_run_averages_exactly_as_an_unbroken_one(tmp_path, shakespeare_slice):
    from rnnkit.cli import build_parser
    from rnnkit.config import from_args
    from rnnkit.tasks.lm import run as lm_run
    from rnnkit.tasks.sections import DataConfig, ModelConfig

    args = build_parser().parse_args(["train", "lm", *TINY, "--steps", "16", "--eval-every", "4", "--ema", "0.9"])
    configs = [from_args(c, args) for c in (ModelConfig, TrainConfig, DataConfig)]
    data = [str(shakespeare_slice)]
    lm_run.train(data, *configs, str(tmp_path / "whole"), "cpu", False)
    lm_run.train(data, *configs, str(tmp_path / "split"), "cpu", False, stop_at=6)
    assert lm_run.resume(tmp_path / "split", {}, "cpu", False)[1]["step"] == 16
    whole, split = (load_file(tmp_path / name / "model.safetensors") for name in ("whole", "split"))
    assert whole.keys() == split.keys() and all(torch.equal(whole[k], split[k]) for k in whole)
    assert any(not torch.equal(whole[k], load_file(generations.latest(tmp_path / "whole").path
                                                   / generations.WEIGHTS)[k]) for k in whole)


@pytest.mark.parametrize("flags,named", [(["--ema", "1.5"], "--ema"),
                                         (["--ema", "0.99", "--tail-average", "0.5"], "--ema"),
                                         (["--average-last", "-1"], "--average-last"),
                                         (["--average", "-1"], "--average")])
def test_a_bad_average_is_one_line_and_exit_code_2(tmp_path, shakespeare_slice, capsys, flags, named):
    code = main(["train", "lm", str(shakespeare_slice), *TINY, "--steps", "2", *flags, "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and named in err and len(err.splitlines()) == 1 and "Traceback" not in err


def test_the_budget_table_widens_with_minutes_and_regularises_with_passes():
    slow, fast = Pace(step_seconds=0.05, chars_per_step=1024), Pace(step_seconds=0.01, chars_per_step=1024)

    def chosen(minutes, megabytes, pace=slow, given=()):
        chars = int(megabytes * 1e6)
        return {c.field: c.value for c in
                width_choices(minutes, set(given)) + regulariser_choices(minutes, chars, pace, set(given))}

    assert Pace(0.5, 1000).passes(1, 60_000) == pytest.approx(2.0)  # 120 steps of 1,000 over 60,000
    assert chosen(1, 1.1) == {"hidden_size": 512, "dropout": 0.0, "weight_drop": 0.0, "locked_dropout": 0.0}
    assert chosen(10, 1.1) == {"hidden_size": 512, "weight_drop": 0.3, "locked_dropout": 0.15,  # 11 passes
                               "ar": 2.0, "tar": 1.0}
    assert chosen(30, 1.1)["hidden_size"] == 768
    assert chosen(10, 10)["weight_drop"] == 0.0 and chosen(60, 10, fast)["weight_drop"] == 0.3
    assert chosen(5, 1.1)["weight_drop"] == 0.0 and chosen(5, 1.1, fast)["weight_drop"] == 0.3  # passes, not minutes
    assert chosen(60, 100)["hidden_size"] == 768 and "hidden_size" not in chosen(60, 1, given=["hidden_size"])
    assert chosen(0, 1) == chosen(1, 1)  # a step budget keeps the smallest rows
    assert BY_MINUTES[-1].up_to == BY_PASSES[-1].up_to == math.inf  # every budget and text has a row


def test_the_pace_counts_characters_per_step_by_tokenizer_and_times_a_real_step():
    model = ModelConfig(hidden_size=16, num_layers=1, embedding_size=8)
    chars = measured_pace(model, DataConfig(batch_size=4, seq_len=8), "fp32", "cpu")
    words = measured_pace(model, DataConfig(batch_size=4, seq_len=8, tokenizer="word"), "fp32", "cpu")
    assert chars.chars_per_step == 32 and words.chars_per_step == 32 * OTHER_TOKENS
    assert 0 < chars.step_seconds < 1  # a 16-wide layer's step: well under a second anywhere


def test_the_pace_reads_the_backend_cache_when_auto_timed_the_shape(tmp_path, monkeypatch):
    from rnnkit.nn.backends import Shape, cache_path, fused_step_seconds, machine_key, shape_key

    monkeypatch.setenv("RNNKIT_CACHE", str(tmp_path))
    shape = Shape("lstm", 8, 16, 1, False, 4, 8, "fp32", "cpu")
    measured = fused_step_seconds(shape)  # nothing cached: timed now, and left uncached
    assert 0 < measured < 1 and not cache_path().exists()
    cache_path().parent.mkdir(parents=True)
    cache = {machine_key(torch.device("cpu")): {shape_key(shape): {"fused": {"first_s": 1.0, "step_s": 123.0}}}}
    cache_path().write_text(json.dumps(cache))
    assert fused_step_seconds(shape) == 123.0


def test_the_chosen_row_is_printed_and_stored_in_the_run(tmp_path, shakespeare_slice, capsys):
    run = tmp_path / "run"
    flags = ["--num-layers", "1", "--batch-size", "8", "--seq-len", "16", "--embedding-size", "8"]
    assert main(["train", "lm", str(shakespeare_slice), *flags, "--minutes", "0.02", "--backend", "fused",
                 "--hidden-size", "16", "--no-progress", "--out", str(run)]) == 0
    err = capsys.readouterr().err
    assert "auto: --hidden-size" not in err  # the user's width wins
    config = json.loads((run / "config.json").read_text())
    stored = {c["field"]: c for c in config["auto"]}
    assert set(stored) <= {"dropout", "weight_drop", "locked_dropout"} and "weight_drop" in stored
    row = ", ".join(f"{flag_name(name)} {c['value']}" for name, c in stored.items())
    assert f"auto: {row} (0.02 minutes at " in err and "passes over" in stored["weight_drop"]["why"]
    assert config["model"]["hidden_size"] == 16
