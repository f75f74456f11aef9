"""AWD-LSTM's regularisers: identities at 0, masks where they belong, the same on every backend."""

from __future__ import annotations

import pytest
import torch
from conftest import TINY
from safetensors.torch import load_file
from torch import nn
from torch.nn import functional as F

from rnnkit.cli import main
from rnnkit.nn.compiled import CompiledRecurrent
from rnnkit.nn.fused import FusedRecurrent
from rnnkit.nn.recurrent import Recurrent
from rnnkit.nn.regularisers import activation_penalty, dropped_hidden_weights, embedding_dropout, locked_dropout
from rnnkit.tasks.lm.model import LanguageModel
from rnnkit.tasks.sections import ModelConfig

BACKENDS = {"fused": FusedRecurrent, "eager": Recurrent, "compiled": CompiledRecurrent}


def stack(backend: str, cell: str, **kwargs) -> nn.Module:
    """A two-layer stack on ``backend`` with the same weights whatever the backend."""
    torch.manual_seed(0)
    weights = Recurrent(cell, 3, 5, num_layers=2, bidirectional=kwargs.get("bidirectional", False)).state_dict()
    module = BACKENDS[backend](cell, 3, 5, num_layers=2, **kwargs)
    module.load_state_dict(weights)
    return module.train()


@pytest.mark.parametrize("backend", ["fused", "eager", "compiled"])
def test_at_zero_the_language_model_computes_exactly_what_it_did_before_the_regularisers(backend):
    """Train mode with --dropout: embedding, stack, per-step dropout, head; the same draws, bit for bit."""
    model = LanguageModel(11, ModelConfig(hidden_size=6, num_layers=2, dropout=0.3, backend=backend,
                                          embedding_size=4)).train()
    ids = torch.randint(0, 11, (3, 7))
    torch.manual_seed(5)
    logits, _ = model(ids)
    torch.manual_seed(5)
    out, _ = model.recurrent.run(model.embedding(ids), None, None)
    assert torch.equal(logits, model.head(F.dropout(out, 0.3)))


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_every_backend_draws_the_same_weight_drop_and_locked_masks(cell, bidirectional):
    """Same seed, same weights: fused (layer by layer), compiled and eager agree in value and gradient,
    so the masks are the same ones in the same order; fused and eager on a padded batch as well."""
    x, lengths = torch.randn(4, 6, 3), torch.tensor([6, 2, 5, 1])
    results = {}
    for backend in BACKENDS:
        module = stack(backend, cell, weight_drop=0.4, locked_dropout=0.3, bidirectional=bidirectional)
        for padded in (False, True):
            if padded and backend == "compiled":
                continue  # padded batches take the eager path there
            torch.manual_seed(1)
            out, _ = module(x, None, lengths if padded else None)
            out.pow(2).sum().backward()
            grads = [p.grad.clone() for p in module.parameters()]
            module.zero_grad()
            results[backend, padded] = (out.detach(), grads)
    for (backend, padded), (out, grads) in results.items():
        reference, reference_grads = results["eager", padded]
        torch.testing.assert_close(out, reference, rtol=1e-5, atol=1e-5, msg=f"{backend} {padded}")
        for grad, reference_grad in zip(grads, reference_grads, strict=True):
            torch.testing.assert_close(grad, reference_grad, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("backend", ["fused", "eager"])
def test_weight_drop_is_one_mask_per_batch_and_never_touches_the_stored_weights(backend):
    module = stack(backend, "lstm", weight_drop=0.5)
    plain = stack(backend, "lstm")
    stored = {k: v.clone() for k, v in module.state_dict().items()}
    x = torch.randn(2, 9, 3)
    torch.manual_seed(3)
    out, _ = module(x)
    torch.manual_seed(3)
    dropped = dropped_hidden_weights(module, 0.5)
    with torch.no_grad():  # the same masks, fixed into a plain stack's matrices: every step used them
        for name, weight in dropped.items():
            plain.get_parameter(name).copy_(weight)
    expected, _ = plain(x)
    assert torch.equal(out, expected)
    out.sum().backward()
    expected.sum().backward()
    for name, weight in dropped.items():
        kept = (weight != 0).float() / 0.5   # d out / d W = d out / d dropped * mask / (1 - p)
        torch.testing.assert_close(module.get_parameter(name).grad, plain.get_parameter(name).grad * kept)
    assert all(torch.equal(v, stored[k]) for k, v in module.state_dict().items())
    module.eval()
    assert torch.equal(module(x)[0], stack(backend, "lstm").eval()(x)[0])  # evaluation uses the whole weights


def test_a_locked_mask_is_the_same_at_every_step_and_scaled():
    x = torch.ones(64, 10, 8)
    y = locked_dropout(x, 0.25, training=True)
    assert torch.equal(y, y[:, :1].expand_as(y))                    # fixed across time
    assert set(y.unique().tolist()) <= {0.0, torch.tensor(1 / 0.75).item()}
    assert 0.15 < (y[:, 0] == 0).float().mean() < 0.35
    assert torch.equal(locked_dropout(x, 0.25, training=False), x)


def test_locked_dropout_between_fused_layers_keeps_each_unit_off_for_the_whole_sequence():
    """A second layer that copies its input (identity-ish weights) shows which units the mask removed:
    with the stack's per-step dropout the zeros move around; with the locked mask they stay put."""
    x = torch.randn(32, 12, 3)
    seen = {}
    for locked in (0.0, 0.5):
        module = stack("fused", "rnn", dropout=0.5, locked_dropout=locked)
        with torch.no_grad():
            module.rnn.weight_ih_l1.copy_(torch.eye(5) * 10)
            module.rnn.weight_hh_l1.zero_()
            module.rnn.bias_ih_l1.zero_()
            module.rnn.bias_hh_l1.zero_()
        torch.manual_seed(2)
        out, _ = module(x)
        off = out.abs() < 1e-12                                        # (B, T, H): the dropped inputs
        seen[locked] = off.all(dim=1).float().sum() / off.any(dim=1).float().sum()
    assert seen[0.5] == 1.0        # a unit dropped at one step is dropped at every step
    assert seen[0.0] < 0.05


def test_embedding_dropout_removes_whole_types():
    embedding = nn.Embedding(400, 6)
    ids = torch.randint(0, 400, (20, 30))
    torch.manual_seed(4)
    y = embedding_dropout(embedding, ids, 0.3, training=True)
    gone = y.abs().sum(-1) == 0                                        # (B, T)
    for token in ids.unique():
        at = ids == token
        assert gone[at].all() or not gone[at].any()                    # all occurrences or none
        if not gone[at].any():
            torch.testing.assert_close(y[at], embedding.weight[token].expand(int(at.sum()), 6) / 0.7)
    assert 0.2 < gone.float().mean() < 0.4
    assert torch.equal(embedding_dropout(embedding, ids, 0.3, training=False), embedding(ids))


def test_ar_and_tar_are_the_hand_computed_sums():
    raw, dropped = torch.randn(3, 5, 4), torch.randn(3, 5, 4)
    ar = sum(float(v) ** 2 for v in dropped.flatten()) / dropped.numel()
    tar = sum(float(raw[b, t + 1, h] - raw[b, t, h]) ** 2 for b in range(3) for t in range(4) for h in range(4))
    got = activation_penalty(raw, dropped, 2.0, 1.5)
    assert got.item() == pytest.approx(2.0 * ar + 1.5 * tar / (3 * 4 * 4), rel=1e-6)
    assert activation_penalty(raw, dropped, 0.0, 0.0).item() == 0.0


def test_a_run_with_every_regulariser_resumes_bit_for_bit(tmp_path, shakespeare_slice):
    flags = [str(shakespeare_slice), *TINY, "--weight-drop", "0.3", "--locked-dropout", "0.2",
             "--embedding-dropout", "0.1", "--ar", "2", "--tar", "1", "--schedule", "constant", "--no-progress"]
    assert main(["train", "lm", *flags, "--steps", "16", "--out", str(tmp_path / "whole")]) == 0
    assert main(["train", "lm", *flags, "--steps", "8", "--out", str(tmp_path / "split")]) == 0
    assert main(["resume", str(tmp_path / "split"), "--steps", "16"]) == 0
    whole = load_file(tmp_path / "whole" / "last.safetensors")
    split = load_file(tmp_path / "split" / "last.safetensors")
    assert all(torch.equal(whole[key], split[key]) for key in whole)
    plain = tmp_path / "plain"
    assert main(["train", "lm", *flags[:len(TINY) + 1], "--steps", "16", "--schedule", "constant",
                 "--no-progress", "--out", str(plain)]) == 0
    assert not all(torch.equal(whole[k], v) for k, v in load_file(plain / "last.safetensors").items())


@pytest.mark.parametrize("backend", ["fused", "eager"])
def test_a_step_by_step_decoder_holds_one_weight_mask_for_the_whole_sequence(backend):
    """Inside ``one_weight_mask`` steps one at a time equal the whole sequence in one call, same seed;
    outside it every call would draw its own mask."""
    module = stack(backend, "gru", weight_drop=0.5)
    x = torch.randn(3, 6, 3)
    torch.manual_seed(7)
    whole, _ = module(x)
    torch.manual_seed(7)
    state, outs = None, []
    with module.one_weight_mask():
        for t in range(6):
            out, state = module(x[:, t:t + 1], state)
            outs.append(out)
    torch.testing.assert_close(torch.cat(outs, dim=1), whole)
    torch.manual_seed(7)
    state, unheld = None, []
    for t in range(6):
        out, state = module(x[:, t:t + 1], state)
        unheld.append(out)
    assert not torch.allclose(torch.cat(unheld, dim=1), whole)
