"""The NumPy reference against finite differences, and rnnkit's PyTorch model against it."""

import numpy as np
import pytest
import torch

from rnnkit.reference import model_forward_backward, numerical_gradient, relative_error
from rnnkit.tasks.lm.model import LanguageModel
from rnnkit.tasks.requests import Sampling
from rnnkit.tasks.sections import ModelConfig

CASES = [("rnn", "tanh", "after"), ("rnn", "relu", "after"), ("lstm", "tanh", "after"),
         ("gru", "tanh", "after"), ("gru", "tanh", "before")]


def make_params(cell, layers, vocab=7, embed=4, hidden=5, seed=0):
    rng = np.random.default_rng(seed)
    gates = {"rnn": 1, "lstm": 4, "gru": 3}[cell]
    params = {"embedding.weight": rng.normal(0, 0.5, (vocab, embed)),
              "head.weight": rng.normal(0, 0.5, (vocab, hidden)), "head.bias": rng.normal(0, 0.1, vocab)}
    for layer in range(layers):
        width = embed if layer == 0 else hidden
        params[f"recurrent.weight_ih_l{layer}"] = rng.normal(0, 0.5, (gates * hidden, width))
        params[f"recurrent.weight_hh_l{layer}"] = rng.normal(0, 0.5, (gates * hidden, hidden))
        params[f"recurrent.bias_ih_l{layer}"] = rng.normal(0, 0.1, gates * hidden)
        params[f"recurrent.bias_hh_l{layer}"] = rng.normal(0, 0.1, gates * hidden)
    return params


def random_state(cell, layers, batch, hidden, rng):
    def one():
        return rng.normal(0, 0.5, (batch, hidden))
    return [(one(), one()) if cell == "lstm" else one() for _ in range(layers)]


@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("steps", [1, 3, 6])
@pytest.mark.parametrize("cell,nonlinearity,reset", CASES)
def test_reference_gradients_equal_finite_differences(cell, nonlinearity, reset, layers, steps):
    rng = np.random.default_rng(steps)
    params = make_params(cell, layers)
    inputs, targets = rng.integers(0, 7, (2, steps)), rng.integers(0, 7, (2, steps))
    state = random_state(cell, layers, 2, 5, rng)  # carried in from a previous chunk

    def loss():
        return model_forward_backward(params, inputs, targets, cell, layers, state, nonlinearity, reset)[0]

    _, grads, _ = model_forward_backward(params, inputs, targets, cell, layers, state, nonlinearity, reset)
    for name, value in params.items():
        numeric = numerical_gradient(loss, value)
        assert relative_error(grads[name], numeric) < 1e-7, name
    # the gradient reaching the carried-in state, which truncated BPTT then drops
    first = state[0][1] if cell == "lstm" else state[0]
    analytic = grads["initial_state"][0][1] if cell == "lstm" else grads["initial_state"][0]
    assert relative_error(analytic, numerical_gradient(loss, first)) < 1e-7


def test_relative_error_sees_a_wrong_gradient():
    params = make_params("lstm", 1)
    inputs = np.array([[1, 2, 3]])
    _, grads, _ = model_forward_backward(params, inputs, inputs, "lstm", 1)
    numeric = numerical_gradient(
        lambda: model_forward_backward(params, inputs, inputs, "lstm", 1)[0], params["recurrent.weight_hh_l0"])
    assert relative_error(grads["recurrent.weight_hh_l0"] * 1.001, numeric) > 1e-4


@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("cell,nonlinearity,reset", CASES)
def test_pytorch_model_equals_the_reference(cell, nonlinearity, reset, layers):
    torch.manual_seed(0)
    config = ModelConfig(cell=cell, hidden_size=6, num_layers=layers, embedding_size=5, backend="eager",
                         nonlinearity=nonlinearity, reset=reset)
    model = LanguageModel(9, config).double()
    params = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
    rng = np.random.default_rng(1)
    inputs, targets = rng.integers(0, 9, (3, 7)), rng.integers(0, 9, (3, 7))
    state = random_state(cell, layers, 3, 6, rng)
    loss, grads, final = model_forward_backward(params, inputs, targets, cell, layers, state, nonlinearity, reset)
    torch_state = tuple(tuple(torch.from_numpy(t) for t in s) if cell == "lstm" else torch.from_numpy(s)
                        for s in state)
    logits, torch_final = model(torch.from_numpy(inputs), torch_state)
    torch_loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), torch.from_numpy(targets).flatten())
    torch_loss.backward()
    assert abs(torch_loss.item() - loss) < 1e-10
    named = model.state_dict(keep_vars=True)
    for name, value in named.items():
        np.testing.assert_allclose(value.grad.numpy(), grads[name], rtol=0, atol=1e-10, err_msg=name)
    ours = [np.asarray(t) for s in final for t in (s if cell == "lstm" else (s,))]
    theirs = [t.detach().numpy() for s in torch_final for t in (s if cell == "lstm" else (s,))]
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)


def test_numpy_trainer_lowers_the_loss_and_its_run_samples(tmp_path, shakespeare_slice):
    import json

    from rnnkit.cli import main

    run = tmp_path / "numpy"
    args = ["train", "lm", str(shakespeare_slice), "--backend", "numpy", "--out", str(run), "--hidden-size", "24",
            "--embedding-size", "8", "--batch-size", "4", "--seq-len", "16", "--lr", "0.1",
            "--eval-every", "50"]
    assert main([*args[:-2], "--steps", "1", "--eval-every", "50"]) == 0
    untrained = json.loads((run / "config.json").read_text())
    assert untrained["trainer"] == "numpy"
    from rnnkit.tasks.lm import run as lm_run

    before = lm_run.evaluate(lm_run.load(run), [str(shakespeare_slice)], "utf-8", 8, 16).nats_per_char
    trained = tmp_path / "numpy2"
    assert main([*args[:5], "--out", str(trained), *args[7:], "--steps", "150"]) == 0
    after = lm_run.evaluate(lm_run.load(trained), [str(shakespeare_slice)], "utf-8", 8, 16).nats_per_char
    assert after < before - 0.5, (before, after)
    assert "".join(lm_run.sample(lm_run.load(trained), Sampling("Th", 20))).startswith("Th")
