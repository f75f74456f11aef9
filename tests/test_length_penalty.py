"""The translator's length penalty: chosen on validation when training ends, stored, and used by default.

The oracle for the stored BLEU figures is sacreBLEU itself, over translations decoded again here."""

from __future__ import annotations

import json
import types

import pytest
import sacrebleu
from test_translate import SMALL, synthetic_pairs

from rnnkit.cli import main
from rnnkit.tasks.bodies import TranslateBody
from rnnkit.tasks.runs import read_split
from rnnkit.tasks.translate import run as translate_run
from rnnkit.tasks.translate import serving
from rnnkit.tasks.translate.decoding import Decoding
from rnnkit.tasks.translate.length_penalty import (
    ALPHAS,
    TUNING_SENTENCES,
    alpha_for,
    best_alpha,
    best_under,
)


def test_the_best_alpha_is_the_highest_bleu_and_the_smallest_of_equals():
    assert best_alpha({0.0: 10.0, 0.4: 12.5, 0.8: 11.0}) == 0.4
    assert best_alpha({0.0: 9.0, 0.2: 12.0, 0.6: 12.0, 1.0: 3.0}) == 0.2


def test_a_given_alpha_wins_greedy_needs_none_and_an_old_run_has_none():
    tuned = {"length_penalty": {"beam": 5, "alpha": 0.6}}
    assert alpha_for(tuned, 5, None) == 0.6 and alpha_for(tuned, 3, None) == 0.6
    assert alpha_for(tuned, 5, 0.0) == 0.0 and alpha_for(tuned, 1, None) == 0.0 and alpha_for({}, 5, None) == 0.0


@pytest.fixture(scope="module")
def half_trained(tmp_path_factory):
    """A translator stopped early, so the length penalty changes what a beam finds."""
    folder = tmp_path_factory.mktemp("penalty")
    synthetic_pairs(folder / "pairs.tsv", "reverse", 1200, seed=5)
    run = folder / "run"
    assert main(["train", "translate", str(folder / "pairs.tsv"), *SMALL, "--steps", "120", "--eval-every", "120",
                 "--lr", "5e-3", "--out", str(run)]) == 0
    return run


def test_the_stored_penalty_is_the_best_of_the_grid_by_sacrebleu(half_trained):
    tuned = json.loads((half_trained / "config.json").read_text())["length_penalty"]
    val = read_split(half_trained, "val", translate_run.PAIR_KEYS)[:TUNING_SENTENCES]
    assert tuned["beam"] == 5 and tuned["sentences"] == len(val) and len(tuned["bleu_by_alpha"]) == len(ALPHAS)
    loaded = translate_run.load(half_trained)
    for alpha in ALPHAS:  # decoded again, one search per alpha, and scored by sacreBLEU directly
        found = translate_run.translate(loaded, [s for s, _ in val], Decoding(beam=5, alpha=alpha))
        bleu = sacrebleu.corpus_bleu([f[0][0] for f in found], [[t for _, t in val]]).score
        assert round(bleu, 2) == pytest.approx(tuned["bleu_by_alpha"][f"{alpha:g}"], abs=0.011)
    assert tuned["alpha"] == best_alpha({float(a): b for a, b in tuned["bleu_by_alpha"].items()})


def test_one_search_ranked_under_each_alpha_finds_what_a_search_per_alpha_finds(half_trained):
    loaded = translate_run.load(half_trained)
    sources = [s for s, _ in read_split(half_trained, "val", translate_run.PAIR_KEYS)]
    every = translate_run.translate(loaded, sources, Decoding(beam=5, alpha=1.0, n_best=10))
    picks = {}
    for alpha in ALPHAS:
        alone = translate_run.translate(loaded, sources, Decoding(beam=5, alpha=alpha))
        picks[alpha] = [best_under(alpha, found) for found in every]
        assert picks[alpha] == [found[0][0] for found in alone]
    assert picks[0.0] != picks[1.0]  # the penalty changes some choices, so the ranking is tested
    assert max(len(found) for found in every) > 5  # more finished hypotheses than the beam is wide


def test_eval_predict_and_serve_use_the_tuned_penalty_unless_told(half_trained, capsys):
    alpha = json.loads((half_trained / "config.json").read_text())["length_penalty"]["alpha"]
    capsys.readouterr()
    assert main(["eval", str(half_trained), "--beam", "5"]) == 0
    assert f"beam 5, alpha {alpha:g}" in capsys.readouterr().out
    assert main(["eval", str(half_trained), "--beam", "5", "--alpha", "1.5"]) == 0
    assert "beam 5, alpha 1.5" in capsys.readouterr().out
    sentences = ["1 2 3 4 5 6 7", "9 8"]
    assert main(["predict", str(half_trained), *sentences, "--beam", "5", "--json"]) == 0
    scores = [json.loads(line)["translations"][0]["score"] for line in capsys.readouterr().out.splitlines()]
    served = types.SimpleNamespace(loaded=translate_run.load(half_trained))
    answer = serving.translate(served, TranslateBody(sentences=sentences, beam=5))
    assert [r["translations"][0]["score"] for r in answer["results"]] == scores
    found = translate_run.translate(served.loaded, sentences, Decoding(beam=5, alpha=alpha))
    assert scores == [round(f[0][1].score, 4) for f in found]


def test_a_run_told_not_to_tune_stores_nothing_and_beams_use_no_penalty(tmp_path, capsys):
    synthetic_pairs(tmp_path / "pairs.tsv", "reverse", 300, seed=6)
    run = tmp_path / "run"
    assert main(["train", "translate", str(tmp_path / "pairs.tsv"), *SMALL, "--steps", "5",
                 "--tune-length-penalty", "0", "--out", str(run)]) == 0
    assert "length_penalty" not in json.loads((run / "config.json").read_text())
    assert "length penalty for beam" not in capsys.readouterr().out
    assert main(["eval", str(run), "--beam", "3"]) == 0
    assert "beam 3, alpha 0" in capsys.readouterr().out
