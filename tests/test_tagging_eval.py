"""Entity precision, recall and F1 against seqeval (the test oracle only), and token accuracy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from seqeval.metrics import classification_report

from rnnkit.data.conll import TaggedConfig, read_tagged, to_bio2
from rnnkit.eval.tagging import entities, entity_scores, token_accuracy

WNUT_DEV = Path(__file__).resolve().parents[2] / "shared" / "data" / "wnut17" / "emerging.dev.conll"
SEQEVAL = {"f1": "f1-score"}
TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG"]


def _agrees_with_seqeval(truth: list[list[str]], predicted: list[list[str]]) -> None:
    ours = entity_scores(truth, predicted)
    theirs = classification_report(truth, predicted, output_dict=True, zero_division=0)
    for kind, row in ours["per_type"].items():
        if row["support"]:  # seqeval lists the types of the truth only
            for key in ("precision", "recall", "f1"):
                assert row[key] == pytest.approx(theirs[kind][SEQEVAL.get(key, key)], abs=1e-12), (kind, key)
            assert row["support"] == theirs[kind]["support"]
    for key in ("precision", "recall", "f1"):
        assert ours["micro"][key] == pytest.approx(theirs["micro avg"][SEQEVAL.get(key, key)], abs=1e-12)


def _random_sentences(rng: np.random.Generator, count: int) -> list[list[str]]:
    return [list(rng.choice(TAGS, size=rng.integers(1, 12), p=[0.5] + [0.5 / 6] * 6)) for _ in range(count)]


@pytest.mark.parametrize("seed", range(5))
def test_entity_scores_equal_seqeval_on_random_sequences_valid_or_not(seed):
    rng = np.random.default_rng(seed)
    truth = _random_sentences(rng, 200)
    predicted = [[t if rng.random() < 0.7 else str(rng.choice(TAGS)) for t in row] for row in truth]
    _agrees_with_seqeval(truth, predicted)


def test_iob1_and_its_bio2_rewrite_give_the_same_entities_as_seqeval_reads_them():
    rng = np.random.default_rng(9)
    for _ in range(300):
        iob1 = [str(t) for t in rng.choice(["O", "I-PER", "I-LOC", "B-PER"], size=rng.integers(1, 10))]
        assert entities(iob1) == entities(to_bio2(iob1))
        assert all(not (a == "O" and b.startswith("I-")) for a, b in zip(["O", *to_bio2(iob1)], to_bio2(iob1),
                                                                          strict=False))
    truth = [["I-PER", "I-PER", "B-PER", "O", "I-LOC"], ["O", "I-LOC", "I-LOC"]]
    predicted = [["I-PER", "I-PER", "I-PER", "O", "I-LOC"], ["O", "I-LOC", "O"]]
    _agrees_with_seqeval(truth, predicted)
    assert entities(to_bio2(truth[0])) == {("PER", 0, 2), ("PER", 2, 3), ("LOC", 4, 5)}


@pytest.mark.skipif(not WNUT_DEV.exists(), reason="needs ../shared/data/wnut17")
def test_entity_scores_equal_seqeval_on_real_wnut17_tags():
    truth = [s.tags for s in read_tagged(WNUT_DEV, TaggedConfig())]
    rng = np.random.default_rng(4)
    kinds = sorted({t[2:] for row in truth for t in row if t != "O"})
    predicted = [[("B-" if rng.random() < 0.5 else "I-") + str(rng.choice(kinds)) if rng.random() < 0.1 else t
                  for t in row] for row in truth]
    _agrees_with_seqeval(truth, predicted)
    assert entity_scores(truth, truth)["f1"] == 1.0


def test_token_accuracy_counts_words_not_sentences():
    assert token_accuracy([["A", "B", "C"], ["A"]], [["A", "X", "C"], ["X"]]) == pytest.approx(0.5)
