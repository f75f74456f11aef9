"""The compiled backend, bf16 mixed precision, the backend chooser and restarted streams."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import TINY

from rnnkit.data.tokenizers import CharTokenizer
from rnnkit.nn import CompiledRecurrent, FusedRecurrent, Recurrent
from rnnkit.nn import backends as backend_choice
from rnnkit.nn.backends import Shape, choose_backend
from rnnkit.nn.pointwise import compiler_works
from rnnkit.tasks.lm.model import LanguageModel
from rnnkit.tasks.lm.task import LanguageModelTask
from rnnkit.tasks.requests import Sampling
from rnnkit.tasks.sections import DataConfig, ModelConfig
from rnnkit.train import precision
from rnnkit.train.loop import TrainConfig, TrainLoop

CELLS = [("lstm", "tanh"), ("gru", "tanh"), ("rnn", "tanh"), ("rnn", "relu")]


def _state(cell: str, entries: int, batch: int, hidden: int, dtype=torch.float32):
    if cell == "lstm":
        return tuple((torch.randn(batch, hidden, dtype=dtype), torch.randn(batch, hidden, dtype=dtype))
                     for _ in range(entries))
    return tuple(torch.randn(batch, hidden, dtype=dtype) for _ in range(entries))


def _flat(state) -> torch.Tensor:
    return torch.cat([t.flatten() for entry in state for t in (entry if isinstance(entry, tuple) else (entry,))])


def _outputs_and_grads(module, x, state):
    out, new_state = module(x, state)
    loss = out.square().sum() + _flat(new_state).sin().sum()
    grads = torch.autograd.grad(loss, [x, *module.parameters()])
    return out, _flat(new_state), grads


@pytest.mark.parametrize("cell,nonlinearity", CELLS)
def test_scan_backward_equals_autograd_through_the_equations_in_float64(cell, nonlinearity):
    """The hand-written backward passes against autograd over the eager cells: to rounding."""
    torch.manual_seed(0)
    kwargs = dict(num_layers=2, bidirectional=True, nonlinearity=nonlinearity)
    eager = Recurrent(cell, 5, 7, **kwargs).double()
    scan = CompiledRecurrent(cell, 5, 7, fuse_steps=False, **kwargs).double()
    scan.load_state_dict(eager.state_dict())
    x = torch.randn(3, 6, 5, dtype=torch.float64, requires_grad=True)
    state = _state(cell, 4, 3, 7, torch.float64)
    for expected, got in zip(_outputs_and_grads(eager, x, state)[:2], _outputs_and_grads(scan, x, state)[:2],
                             strict=True):
        torch.testing.assert_close(got, expected, rtol=0, atol=1e-12)
    for expected, got in zip(_outputs_and_grads(eager, x, state)[2], _outputs_and_grads(scan, x, state)[2],
                             strict=True):
        torch.testing.assert_close(got, expected, rtol=0, atol=1e-11)


@pytest.mark.skipif(not compiler_works(), reason="torch.compile cannot build CPU kernels here")
@pytest.mark.parametrize("cell,nonlinearity", CELLS[:3])
def test_compiled_and_eager_paths_equal_the_fused_kernels_in_fp32(cell, nonlinearity):
    torch.manual_seed(1)
    kwargs = dict(num_layers=2, bidirectional=cell == "lstm", nonlinearity=nonlinearity)
    fused = FusedRecurrent(cell, 6, 8, **kwargs)
    others = [Recurrent(cell, 6, 8, **kwargs), CompiledRecurrent(cell, 6, 8, **kwargs)]
    for module in others:
        module.load_state_dict(fused.state_dict())
    x = torch.randn(4, 7, 6, requires_grad=True)
    state = _state(cell, 4 if kwargs["bidirectional"] else 2, 4, 8)
    expected = _outputs_and_grads(fused, x, state)
    for module in others:
        out, final, grads = _outputs_and_grads(module, x, state)
        torch.testing.assert_close(out, expected[0], rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(final, expected[1], rtol=1e-5, atol=1e-5)
        for got, want in zip(grads, expected[2], strict=True):
            torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("backend", ["fused", "compiled"])
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_bf16_forward_and_gradients_stay_within_bf16_tolerance_of_fp32(backend, cell):
    torch.manual_seed(2)
    module = {"fused": FusedRecurrent, "compiled": CompiledRecurrent}[backend](cell, 16, 64, num_layers=2)
    x = torch.randn(8, 32, 16)

    def run(enabled: bool):
        module.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=enabled):
            out, _ = module(x)
        out.float().square().mean().backward()
        return out.float().detach(), [p.grad.clone() for p in module.parameters()]

    out32, grads32 = run(False)
    out16, grads16 = run(True)
    assert (out16 - out32).abs().max() < 0.05  # bf16 keeps 8 bits: about 0.4% per rounding
    assert (out16 - out32).norm() / out32.norm() < 0.02
    for got, want in zip(grads16, grads32, strict=True):
        assert (got - want).norm() / want.norm() < 0.05


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_fused_layers_run_in_fp32_where_the_cpu_has_no_bf16_kernel(monkeypatch, cell):
    """Simulates an AVX2-only CPU (AMD Zen 3), whose oneDNN refuses the bf16 LSTM primitive."""
    from rnnkit.nn import fused

    monkeypatch.setattr(fused, "bf16_kernel_works", lambda cell: False)
    torch.manual_seed(3)
    module = FusedRecurrent(cell, 6, 16, num_layers=2)
    x = torch.randn(3, 5, 6)
    expected, _ = module(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out, _ = module(x)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, expected)


def test_the_bf16_kernel_probe_agrees_with_a_real_bf16_lstm():
    from rnnkit.nn import fused

    layer = torch.nn.LSTM(8, 8, batch_first=True)
    try:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            layer(torch.zeros(2, 3, 8))[0].float().sum().backward()
        works = True
    except RuntimeError:
        works = False
    assert fused.bf16_kernel_works("lstm") is works


def test_auto_precision_needs_a_working_bf16_kernel_not_only_the_flags(monkeypatch, capsys):
    cpu = torch.device("cpu")
    monkeypatch.setattr(precision, "cpu_has_fast_bf16", lambda: True)
    monkeypatch.setattr(precision, "bf16_kernel_works", lambda cell: False)
    precision._note_fused_fp32.cache_clear()
    assert precision.resolve_precision("auto", cpu) == "fp32"
    assert precision.resolve_precision("bf16", cpu) == "bf16"  # asked for: bf16, the fused LSTM in fp32
    assert "fused LSTM layers run in fp32" in capsys.readouterr().err


def test_auto_precision_falls_back_to_fp32_without_bf16_hardware(monkeypatch):
    cpu = torch.device("cpu")
    monkeypatch.setattr(precision, "cpu_has_fast_bf16", lambda: False)
    assert precision.resolve_precision("auto", cpu) == "fp32"
    assert precision.resolve_precision("bf16", cpu) == "bf16"  # asked for explicitly: honoured
    monkeypatch.setattr(precision, "cpu_has_fast_bf16", lambda: True)
    monkeypatch.setattr(precision, "bf16_kernel_works", lambda cell: True)
    assert precision.resolve_precision("auto", cpu) == "bf16"
    with pytest.raises(ValueError, match="fp32"):
        precision.resolve_precision("fp16", cpu)


def test_auto_precision_is_recorded_in_the_run(monkeypatch, tmp_path, shakespeare_slice):
    from rnnkit.cli import main

    monkeypatch.setattr(precision, "cpu_has_fast_bf16", lambda: False)
    run = tmp_path / "run"
    assert main(["train", "lm", str(shakespeare_slice), *TINY, "--steps", "2", "--out", str(run),
                 "--no-progress"]) == 0
    config = json.loads((run / "config.json").read_text())
    assert config["train"]["precision"] == "fp32" and "precision" not in config  # resolved, saved once
    assert config["model"]["backend"] == "fused"  # auto, resolved without timing for two steps


@pytest.mark.parametrize("trained", ["fp32", "bf16"])
def test_a_run_evaluates_and_samples_in_either_precision(tmp_path, shakespeare_slice, trained):
    from rnnkit.cli import main
    from rnnkit.tasks.lm import run as lm_run

    run = tmp_path / "run"
    assert main(["train", "lm", str(shakespeare_slice), *TINY, "--steps", "30", "--precision", trained,
                 "--out", str(run), "--no-progress"]) == 0
    assert json.loads((run / "config.json").read_text())["train"]["precision"] == trained
    loaded = lm_run.load(run)
    scored = {p: lm_run.evaluate(loaded, [str(shakespeare_slice)], "utf-8", 4, 32, p).nats_per_char
              for p in ("fp32", "bf16")}
    assert abs(scored["bf16"] - scored["fp32"]) / scored["fp32"] < 0.01
    texts = {p: "".join(lm_run.sample(loaded, Sampling("ROMEO:", 60, temperature=0.0), p)) for p in ("fp32", "bf16")}
    assert all(text.startswith("ROMEO:") and len(text) == 66 for text in texts.values())


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_bf16_stepper_follows_the_fp32_model(cell):
    torch.manual_seed(3)
    model = LanguageModel(30, ModelConfig(cell=cell, hidden_size=48, num_layers=2, embedding_size=16)).eval()
    ids = torch.randint(0, 30, (3, 40))
    with torch.no_grad():
        full, _ = model(ids)
    for dtype, tolerance in ((torch.float32, 1e-5), (torch.bfloat16, 0.05)):
        stepper, state, steps = model.make_stepper(dtype), None, []
        for t in range(ids.shape[1]):
            logits, state = stepper.step(ids[:, t], state)
            steps.append(logits)
            assert logits.dtype == torch.float32 and _flat(state).dtype == torch.float32  # fp32 state
        assert (torch.stack(steps, 1) - full).abs().max() < tolerance


def test_bf16_training_matches_fp32_validation_loss_within_one_percent(shakespeare_slice):
    """Quality parity at small scale: same seed, same steps, the same data."""
    text = shakespeare_slice.read_text(encoding="utf-8")
    tokenizer = CharTokenizer.fit(text)
    ids = tokenizer.encode(text).astype(np.uint8)
    losses = {}
    for mode in ("fp32", "bf16"):
        torch.manual_seed(0)
        model = LanguageModel(tokenizer.vocab_size, ModelConfig(hidden_size=128, embedding_size=32))
        task = LanguageModelTask(model, tokenizer, ids[:54_000], ids[54_000:], DataConfig(batch_size=16, seq_len=32),
                                 "a", torch.device("cpu"), 10, mode)
        loop = TrainLoop(model, task, TrainConfig(steps=150, lr=1e-2, warmup_steps=10), None, show_progress=False)
        for _ in range(150):
            loop.train_step()
        task.precision = "fp32"  # both scored the same way
        losses[mode] = task.evaluate()["loss"]
    assert losses["fp32"] < 2.6  # it learned something
    assert abs(losses["bf16"] - losses["fp32"]) / losses["fp32"] < 0.01, losses


def test_restarted_streams_are_zeroed_the_same_way_on_every_run():
    tokenizer = CharTokenizer.fit("abcdefgh")
    ids = tokenizer.encode("abcdefgh" * 200).astype(np.uint8)
    torch.manual_seed(0)
    model = LanguageModel(tokenizer.vocab_size, ModelConfig(hidden_size=8))
    data = DataConfig(batch_size=64, seq_len=4, state_reset=0.5)
    zeroed = []
    for _ in range(2):
        task = LanguageModelTask(model, tokenizer, ids, ids[:100], data, "a", torch.device("cpu"), 5, seed=7)
        task.loss(3)
        zeroed.append((task.state[0][1].abs().sum(-1) == 0).tolist())
    assert zeroed[0] == zeroed[1]
    assert 10 < sum(zeroed[0]) < 54  # about half of 64 streams restart
    task = LanguageModelTask(model, tokenizer, ids, ids[:100], DataConfig(batch_size=64, seq_len=4, state_reset=0),
                             "a", torch.device("cpu"), 5, seed=7)
    task.loss(3)
    assert (task.state[0][1].abs().sum(-1) > 0).all()


def test_backend_choice_times_once_then_reads_the_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("RNNKIT_CACHE", str(tmp_path))
    calls = []
    timings = {"fused": (0.5, 0.4), "compiled": (20.0, 0.2)}  # compiled: half the step, 20 s to compile

    def fake_time(kind, shape, repeats=3):
        calls.append(kind)
        return timings[kind]

    monkeypatch.setattr(backend_choice, "time_backend", fake_time)
    monkeypatch.setattr(backend_choice, "compiler_works", lambda: True)
    shape = Shape("gru", 64, 512, 2, False, 64, 64, "bf16", "cpu")
    assert choose_backend(shape, 10, 0, log=lambda line: None)[0] == "compiled"  # 20 s of 600 pays back
    assert sorted(calls) == ["compiled", "fused"]
    assert choose_backend(shape, 10, 0, log=lambda line: None)[0] == "compiled"
    assert len(calls) == 2  # the second run read the cache
    assert choose_backend(shape, 2, 0)[0] == "fused"  # 20 s would be a sixth of a 2-minute run
    assert choose_backend(shape, 0.5, 0)[0] == "fused" and len(calls) == 2  # short: not even measured
    assert choose_backend(shape, 0, 100)[0] == "fused" and len(calls) == 2
    (tmp_path / "rnnkit" / "backends.json").write_text("{not json")
    assert choose_backend(shape, 10, 0, log=lambda line: None)[0] == "compiled" and len(calls) == 4



def test_no_cache_times_again_and_cache_commands_show_and_clear(monkeypatch, tmp_path, capsys):
    from rnnkit.cli import main

    monkeypatch.setenv("RNNKIT_CACHE", str(tmp_path))
    calls = []
    monkeypatch.setattr(backend_choice, "time_backend", lambda kind, shape, repeats=3: calls.append(kind) or
                        {"fused": (0.5, 0.4), "compiled": (20.0, 0.2)}[kind])
    monkeypatch.setattr(backend_choice, "compiler_works", lambda: True)
    shape = Shape("lstm", 64, 256, 1, False, 16, 64, "fp32", "cpu")
    assert choose_backend(shape, 10, 0, log=lambda line: None, use_cache=False)[0] == "compiled"
    assert not (tmp_path / "rnnkit" / "backends.json").exists()  # --no-cache leaves no trace
    choose_backend(shape, 10, 0, log=lambda line: None)
    choose_backend(shape, 10, 0, log=lambda line: None, use_cache=False)
    assert len(calls) == 6  # measured three times: without the cache, into it, and past it again
    assert main(["cache", "show"]) == 0
    shown = capsys.readouterr().out.strip().splitlines()
    assert len(shown) == 1 and "lstm 1x256, batch 16x64, fp32" in shown[0] and "compiled 200.0 ms/step" in shown[0]
    assert main(["cache", "clear"]) == 0
    assert "cleared 1 timed shapes" in capsys.readouterr().out
    assert main(["cache", "show"]) == 0
    assert "no timings yet" in capsys.readouterr().out

def test_compiled_backend_trains_a_language_model_end_to_end(tmp_path, shakespeare_slice):
    from rnnkit.cli import main
    from rnnkit.tasks.lm import run as lm_run

    run = tmp_path / "run"
    assert main(["train", "lm", str(shakespeare_slice), *TINY, "--steps", "20", "--backend", "compiled",
                 "--out", str(run), "--no-progress"]) == 0
    loaded = lm_run.load(run)
    assert isinstance(loaded.model.recurrent, CompiledRecurrent)
    fused = LanguageModel(loaded.tokenizer.vocab_size, ModelConfig(**{**loaded.config["model"], "backend": "fused"}))
    fused.load_state_dict(loaded.model.state_dict())
    ids = torch.as_tensor(loaded.tokenizer.encode(shakespeare_slice.read_text()[:200]))[None]
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(ids)[0], fused(ids)[0], rtol=1e-5, atol=1e-5)
