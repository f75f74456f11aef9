"""ONNX export of a language model: ONNX Runtime agrees with PyTorch, and the README's example runs."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (pip install -e .[dev])")


@pytest.fixture(scope="module")
def exported(tiny_lm_run, tmp_path_factory):
    from rnnkit.cli import main

    out = tmp_path_factory.mktemp("onnx")
    assert main(["export", str(tiny_lm_run), "--format", "onnx", "--out", str(out)]) == 0
    return out


def torch_state(state, lstm=True):
    return tuple((state[k], state[k + 1]) for k in range(0, len(state), 2)) if lstm else tuple(state)


@pytest.mark.parametrize("batch", [1, 8])
def test_the_step_agrees_with_pytorch_over_100_carried_steps(tiny_lm_run, exported, batch):
    from rnnkit.tasks.lm import run as lm_run

    loaded = lm_run.load(tiny_lm_run)
    stepper = loaded.model.make_stepper()
    session = ort.InferenceSession(str(exported / "step.onnx"))
    names = [i.name for i in session.get_inputs()][1:]
    assert names == ["h0", "c0", "h1", "c1"]
    tokens = torch.randint(0, loaded.tokenizer.vocab_size, (batch,), generator=torch.Generator().manual_seed(1))
    state = [np.zeros((batch, 32), np.float32) for _ in names]
    ours = None
    for _ in range(100):
        logits, ours = stepper.step(tokens, ours)
        outputs = session.run(None, {"tokens": tokens.numpy(), **dict(zip(names, state, strict=True))})
        np.testing.assert_allclose(outputs[0], logits.numpy(), atol=1e-5, rtol=1e-5)
        flat = [t for layer in ours for t in layer]
        for theirs, mine in zip(outputs[1:], flat, strict=True):
            np.testing.assert_allclose(theirs, mine.numpy(), atol=1e-5, rtol=1e-5)
        state, tokens = outputs[1:], logits.argmax(-1)


def test_the_scorer_reads_a_sequence_as_the_model_does(tiny_lm_run, exported):
    from rnnkit.tasks.lm import run as lm_run

    loaded = lm_run.load(tiny_lm_run)
    generator = torch.Generator().manual_seed(2)
    tokens = torch.randint(0, loaded.tokenizer.vocab_size, (8, 200), generator=generator)
    state = [torch.randn(8, 32, generator=generator) * 0.3 for _ in range(4)]
    with torch.no_grad():
        logits, after = loaded.model(tokens, torch_state(state))
    session = ort.InferenceSession(str(exported / "score.onnx"))
    outputs = session.run(None, {"tokens": tokens.numpy(), **{n: s.numpy() for n, s in
                                                              zip(["h0", "c0", "h1", "c1"], state, strict=True)}})
    np.testing.assert_allclose(outputs[0], logits.numpy(), atol=1e-4, rtol=1e-5)
    np.testing.assert_allclose(outputs[3], after[1][0].numpy(), atol=1e-4, rtol=1e-5)
    assert session.get_outputs()[0].shape[1] == "time"


def test_the_readme_example_samples_with_numpy_and_onnxruntime_only(exported, tmp_path):
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    code = re.search(r"<!-- onnx example -->\n```python\n(.*?)```", readme, re.S).group(1)
    script = tmp_path / "sample_onnx.py"
    script.write_text(code.replace('"runs/shakespeare/onnx"', repr(str(exported))))
    result = subprocess.run([sys.executable, "-I", str(script)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "rnnkit" not in code and result.stdout.startswith("ROMEO:") and len(result.stdout.rstrip("\n")) == 206


def test_a_run_that_cannot_be_exported_says_so(served_runs, capsys):
    from rnnkit.cli import main

    assert main(["export", str(served_runs["ngram"])]) == 2
    assert "has no network to export" in capsys.readouterr().err
