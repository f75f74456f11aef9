"""Neuron pictures: the finder finds a planted neuron, gates are the cells' own, the page is self-contained."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from rnnkit.cli import main
from rnnkit.data.tokenizers import CharTokenizer
from rnnkit.tasks.lm.model import LanguageModel
from rnnkit.tasks.lm.reading import choose_neurons, read_model, token_features
from rnnkit.tasks.lm.run import LoadedRun
from rnnkit.tasks.sections import ModelConfig
from rnnkit.viz import gates as gates_module
from rnnkit.viz.activations import activations
from rnnkit.viz.features import text_features
from rnnkit.viz.finder import correlations
from rnnkit.viz.gates import gate_saturation
from tests.test_report import TagBalance

PLANTED = 3


def quote_model(alphabet: str, backend: str) -> LanguageModel:
    """A one-hot GRU language model whose unit ``PLANTED`` flips sign at every double quote.

    Its update gate is shut (z ~ 0) only on a quote, so the unit keeps its value
    elsewhere; on a quote its candidate is tanh(2 - 10 h): +1 from outside (h <= 0), -1
    from inside (h = +1). The other units are random and read everything.
    """
    torch.manual_seed(0)
    vocab, hidden = len(alphabet) + 1, 8
    model = LanguageModel(vocab, ModelConfig(cell="gru", hidden_size=hidden, embedding_size=vocab,
                                             backend=backend)).eval()
    quote = alphabet.index('"') + 1
    weights = model.recurrent.state_dict()
    w_ih, w_hh = weights["weight_ih_l0"], weights["weight_hh_l0"]
    b_ih, b_hh = weights["bias_ih_l0"], weights["bias_hh_l0"]
    r, z, n = PLANTED, hidden + PLANTED, 2 * hidden + PLANTED
    for row in (r, z, n):
        w_ih[row] = 0
        w_hh[row] = 0
        b_ih[row] = b_hh[row] = 0
    b_ih[r] = 10.0                               # reset gate open: the candidate sees h
    w_ih[z, quote], b_ih[z] = -20.0, 10.0        # update gate shut on a quote only
    w_ih[n, quote], w_hh[n, PLANTED] = 2.0, -10.0
    model.recurrent.load_state_dict(weights)
    with torch.no_grad():
        model.embedding.weight.copy_(torch.eye(vocab))
    return model


@pytest.mark.parametrize("backend", ["fused", "eager"])
def test_the_finder_ranks_a_planted_quote_neuron_first(backend):
    rng = np.random.default_rng(1)
    words = ["".join(rng.choice(list("abcdefgh "), size=rng.integers(3, 40))) for _ in range(120)]
    text = '"' + "".join(f'{w}"' for w in words)  # quoted and unquoted stretches of random length
    tokenizer = CharTokenizer.fit(text + "xyz")
    model = quote_model(tokenizer.chars, backend)
    ids = tokenizer.encode(text)
    reading = read_model(LoadedRun(Path("planted"), {}, tokenizer, model), ids, tokenizer.pieces(text), 3, False)
    inside = token_features(reading.pieces)["in_quotes"]
    np.testing.assert_allclose(reading.states["h0"][:, PLANTED], 2 * inside - 1, atol=0.05)
    best = next(m for m in reading.matches if m.feature == "in_quotes")
    assert best.neuron == f"h0:{PLANTED}" and best.correlation > 0.99
    assert all(abs(m.correlation) < 0.9 for m in reading.matches if m.feature == "in_quotes" and m is not best)


def test_text_features_by_hand():
    text = 'x = "a#b"  # c\ny = f(\'\'\'d\nm\'\'\', [1])'
    found = text_features(text)

    def at(*ranges):  # the positions where a 0/1 feature is 1
        return [t for t in range(len(text)) if any(t in r for r in ranges)]

    assert len(text) == 36
    assert np.flatnonzero(found["in_quotes"]).tolist() == at(range(4, 8))
    assert np.flatnonzero(found["in_comment"]).tolist() == at(range(11, 14))
    assert np.flatnonzero(found["in_string"]).tolist() == at(range(4, 8), range(21, 29))
    assert np.flatnonzero(found["word_start"]).tolist() == [0, 5, 7, 13, 15, 19, 24, 26, 33]
    assert found["bracket_depth"].tolist() == [0] * 20 + [1] * 12 + [2, 2, 1, 0]
    assert found["in_brackets"].tolist() == [0] * 20 + [1] * 15 + [0]
    assert found["line_position"][12:17].tolist() == [13, 14, 0, 1, 2]


def test_correlations_match_numpy():
    rng = np.random.default_rng(0)
    values, feature = rng.normal(size=(200, 5)), rng.normal(size=200)
    values[:, 4] = 3.0  # a constant neuron correlates with nothing
    expected = [np.corrcoef(values[:, k], feature)[0, 1] for k in range(4)]
    np.testing.assert_allclose(correlations(values, feature)[:4], expected, rtol=1e-10)
    assert correlations(values, feature)[4] == 0


@pytest.mark.parametrize("cell,reset", [("lstm", "after"), ("gru", "after"), ("gru", "before")])
def test_gate_values_rebuild_the_recorded_states(cell, reset):
    torch.manual_seed(0)
    model = LanguageModel(12, ModelConfig(cell=cell, hidden_size=10, embedding_size=6, num_layers=2,
                                          backend="eager", reset=reset)).eval()
    ids = np.random.default_rng(0).integers(0, 12, size=30)
    states = activations(model.recurrent, model.embedding.weight, ids)
    for layer in range(2):
        cell_module = model.recurrent.cells[f"l{layer}"]
        x = model.embedding.weight[torch.from_numpy(ids)] if layer == 0 else torch.from_numpy(states[f"h{layer - 1}"])
        h = torch.from_numpy(states[f"h{layer}"])
        previous = torch.cat([torch.zeros(1, 10), h[:-1]])
        with torch.no_grad():
            g = cell_module.gate_values(cell_module.project_input(x), previous)
        if cell == "lstm":
            c = torch.from_numpy(states[f"c{layer}"])
            c_previous = torch.cat([torch.zeros(1, 10), c[:-1]])
            torch.testing.assert_close(g["forget"] * c_previous + g["input"] * g["candidate"], c)
            torch.testing.assert_close(g["output"] * torch.tanh(c), h)
        else:
            torch.testing.assert_close((1 - g["update"]) * g["candidate"] + g["update"] * previous, h)


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def test_lstm_gate_saturation_equals_a_numpy_count(monkeypatch):
    monkeypatch.setattr(gates_module, "CHUNK", 7)  # several chunks, one of them partial
    torch.manual_seed(0)
    model = LanguageModel(9, ModelConfig(cell="lstm", hidden_size=6, embedding_size=5)).eval()
    with torch.no_grad():
        model.recurrent.rnn.weight_hh_l0.mul_(4)  # push the gates towards saturation
    ids = np.random.default_rng(0).integers(0, 9, size=40)
    states = activations(model.recurrent, model.embedding.weight, ids)
    found = {s.gate: s for s in gate_saturation(model.recurrent, model.embedding.weight, ids, states)}
    w = {k: v.detach().numpy().astype(np.float64) for k, v in model.recurrent.state_dict().items()}
    x = model.embedding.weight.detach().numpy()[ids]
    previous = np.vstack([np.zeros((1, 6)), states["h0"][:-1]])
    pre = x @ w["weight_ih_l0"].T + w["bias_ih_l0"] + previous @ w["weight_hh_l0"].T + w["bias_hh_l0"]
    for k, gate in ((0, "input"), (1, "forget"), (3, "output")):
        values = sigmoid(pre[:, k * 6:(k + 1) * 6])
        np.testing.assert_allclose(found[gate].left, (values < 0.1).mean(0))
        np.testing.assert_allclose(found[gate].right, (values > 0.9).mean(0))
        assert found[gate].histogram.sum() == values.size
    assert found["forget"].right.max() > 0  # the check above compared real saturation, not zeros


def test_a_vanilla_rnn_has_no_gate_statistics():
    model = LanguageModel(5, ModelConfig(cell="rnn", hidden_size=4, embedding_size=3))
    ids = np.arange(5)
    assert gate_saturation(model.recurrent, model.embedding.weight, ids,
                           activations(model.recurrent, model.embedding.weight, ids)) == []


def test_a_page_that_cannot_hold_every_neuron_keeps_the_finders_picks():
    from rnnkit.tasks.lm.reading import Reading
    from rnnkit.viz.finder import Match

    rng = np.random.default_rng(0)
    states = {"h0": rng.normal(size=(50, 6)) * np.arange(1, 7), "c0": rng.normal(size=(50, 6))}
    reading = Reading(["a"] * 50, states, np.zeros((50, 5)), np.zeros((50, 5)),
                      [Match("in_quotes", "c0:2", 0.5)], [])
    assert choose_neurons(reading, 0) == [f"h0:{k}" for k in range(6)] + [f"c0:{k}" for k in range(6)]
    assert choose_neurons(reading, 3) == ["h0:4", "h0:5", "c0:2"]  # state order; most variable h after the pick


def test_viz_writes_a_self_contained_page_and_prints_the_finder(tiny_lm_run, tmp_path, capsys):
    text = tmp_path / "text.txt"
    text.write_text('She said "no (not [yet])" to him.\n' * 40, encoding="utf-8")
    out = tmp_path / "page" / "neurons.html"
    assert main(["viz", str(tiny_lm_run), str(text), "--out", str(out), "--find", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "in_quotes" in printed and "bracket_depth" in printed and "forget" in printed
    page = out.read_text(encoding="utf-8")
    # nothing fetched from elsewhere (a bare "http" can occur by chance inside the base64 PNG)
    assert not re.search(r"(?i)https?:|(?:src|href)\s*=\s*[\"']?//", page)
    assert "<link" not in page and "src=\"data:image/png;base64," in page
    checker = TagBalance()
    checker.feed(page)
    assert not checker.errors and not checker.open
    data = json.loads(re.search(r'<script type="application/json" id="rnnkit-data">(.*?)</script>',
                                page, re.S).group(1))
    assert "".join(data["pieces"]) == text.read_text(encoding="utf-8")
    assert len(data["neurons"]) == 2 * 2 * 32  # h and c of both layers fit
    for neuron in re.findall(r'<a href="#([hc]\d:\d+)">', page):
        assert neuron in data["neurons"]
    assert (out.parent / "neurons-gates.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("case", ["empty", "classify", "short"])
def test_viz_refuses_bad_input_in_one_line(tiny_lm_run, tmp_path, capsys, case):
    text = tmp_path / "t.txt"
    text.write_text({"empty": "", "classify": "some text", "short": "a"}[case], encoding="utf-8")
    run = tiny_lm_run
    if case == "classify":
        run = tmp_path / "other"
        run.mkdir()
        (run / "config.json").write_text(json.dumps({"task": "classify"}))
    assert main(["viz", str(run), str(text), "--no-progress"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and error.startswith("rnnkit: error:")
