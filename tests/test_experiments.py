"""Each experiment's quick version shows the result it exists to show."""

from __future__ import annotations

import json
import math

import pytest

from rnnkit.cli import main


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    return tmp_path_factory.mktemp("experiments")


def run(name: str, out, data=None) -> dict:
    assert main(["experiment", name, *(data or []), "--quick", "--out", str(out)]) == 0
    assert (out / f"{name}.png").stat().st_size > 10_000
    return json.loads((out / f"{name}.json").read_text())


def test_vanishing_gradient_decays_fastest_in_the_vanilla_rnn(out):
    cells = run("vanishing", out)["cells"]
    lag = 50

    def ratio(cell, kind="h", stage="trained"):
        values = cells[cell][stage][kind]
        return values[lag] / values[0]
    assert ratio("rnn") < 1e-8  # after training, fifty steps back the RNN's gradient is gone
    assert ratio("lstm", "c") > 1e3 * ratio("rnn")  # while the LSTM's cell state still carries it
    assert ratio("gru") > 1e3 * ratio("rnn")


def test_lstm_remembers_fifty_steps_back_where_a_min_char_rnn_does_not(out):
    # Three seeds per point; single runs at this budget are seed-dependent (docs/experiments.md).
    results = run("memory", out)
    assert results["lags"] == [5, 50]
    recall = results["scores"]["recall"]
    for variant, scores in recall.items():
        assert scores[0] > 0.9, variant  # every model learns the task where it is easy
    assert recall["lstm"][1] > recall["rnn, N(0,0.01) init"][1] + 0.3


def test_clipping_tames_exploding_gradients(out):
    runs = run("clipping", out)["runs"]
    clipped, unclipped = runs["clip 1"], runs["no clipping"]
    assert all(math.isfinite(v) for v in clipped)
    finite = [v for v in unclipped if math.isfinite(v)]
    assert len(finite) < len(unclipped) or max(finite) > 2 * max(clipped[10:])


def test_depth_and_cells_compare_at_equal_time(out, shakespeare_slice):
    depth = run("depth", out, [str(shakespeare_slice)])["layers"]
    assert set(depth) == {"1", "2", "3"}
    assert depth["1"]["step"] > depth["3"]["step"]  # deeper is slower per step
    cells = run("cells", out, [str(shakespeare_slice)])["cells"]
    params = [cells[c]["parameters"] for c in ("rnn", "lstm", "gru")]
    assert max(params) < 1.02 * min(params)  # equal parameters
    assert all(1.0 < r["bits_per_char"] < 7.0 for r in cells.values())


def test_ngram_vs_rnn_shows_sparsity_and_kneser_ney(out, shakespeare_slice):
    results = run("ngram-vs-rnn", out, [str(shakespeare_slice)])
    kn, add_delta = results["ngram"]["kn"], results["ngram"]["add-delta"]
    assert results["orders"] == [1, 2, 3, 4, 5, 6]
    assert min(kn) < kn[0] - 1.5  # context is worth more than a bit and a half per character
    assert add_delta[-1] > min(add_delta) + 0.5  # add-delta drowns in unseen n-grams at high orders
    assert kn[-1] < add_delta[-1] - 1.0
    assert results["best_ngram"]["smoothing"] == "kn"
    assert 1.0 < results["rnn"]["bits_per_char"] < 7.0 and results["rnn"]["step"] > 0


def test_translation_attention_beats_a_fixed_summary_on_long_reversals(out, tmp_path):
    rng = __import__("numpy").random.default_rng(0)
    lines = []
    for _ in range(2000):
        words = [str(w) for w in rng.integers(0, 10, size=rng.integers(4, 17))]
        lines.append(" ".join(words) + "\t" + " ".join(reversed(words)))
    (tmp_path / "pairs.tsv").write_text("\n".join(lines) + "\n")
    results = run("translation", out, [str(tmp_path / "pairs.tsv")])
    bleu = {(v["attention"], v["reverse_source"]): v["bleu"] for v in results["variants"]}
    assert len(bleu) == 6 and results["test_pairs"] == 200
    assert bleu[("general", False)] > bleu[("none", False)] + 10
    assert bleu[("bahdanau", False)] > bleu[("fixed", False)]
    assert all(len(scores) == 4 for scores in results["beams"].values())
    assert {row["words"] for row in results["variants"][0]["by_length"]} == {"1-5", "6-10", "11-15", "16-20"}
