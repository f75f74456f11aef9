"""Beam search for language models: greedy at beam 1, true log-probabilities, exhaustive at beam V^L."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch.nn import functional as F

from rnnkit.decode.lm_beam import beam_search
from rnnkit.decode.sampling import generate
from rnnkit.tasks.lm.model import LanguageModel
from rnnkit.tasks.sections import ModelConfig


def tiny_model(vocab: int, seed: int = 0) -> LanguageModel:
    torch.manual_seed(seed)
    model = LanguageModel(vocab, ModelConfig(hidden_size=16, num_layers=2, cell="lstm", backend="fused")).eval()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.mul_(4)  # peaked distributions, so the search has something to find
    return model


def rescored(model: LanguageModel, prime: list[int], tokens: list[int]) -> float:
    """The model's own log-probability of ``tokens`` after ``prime``, from one forward pass."""
    ids = torch.tensor([prime + tokens])
    with torch.no_grad():
        logits, _ = model(ids[:, :-1])
    picked = F.log_softmax(logits[0].float(), -1).gather(1, ids[0, 1:, None])[:, 0]
    return float(picked[len(prime) - 1:].sum())


def test_beam_1_is_greedy_and_scores_are_the_models_log_probabilities():
    model, prime = tiny_model(12), [1, 4, 2]
    found = beam_search(model, torch.tensor(prime), 25, beam=1)[0]
    greedy = [int(t) for t in generate(model, torch.tensor([prime]), 25, temperature=0)]
    assert found.tokens == greedy
    for continuation in beam_search(model, torch.tensor(prime), 25, beam=6, n_best=6):
        assert continuation.log_prob == pytest.approx(rescored(model, prime, continuation.tokens), abs=1e-4)


@pytest.mark.parametrize("seed", range(4))
def test_a_wider_beam_never_finds_a_worse_best(seed):
    model, prime = tiny_model(10, seed), [3]
    best = [beam_search(model, torch.tensor(prime), 12, beam=k)[0].log_prob for k in (1, 2, 4, 8, 16)]
    assert all(wider >= narrower - 1e-5 for narrower, wider in itertools.pairwise(best)), best


def test_a_beam_of_every_sequence_is_the_exhaustive_search():
    model, prime = tiny_model(3, 5), [0, 2]
    every = sorted(((rescored(model, prime, list(s)), list(s)) for s in itertools.product(range(3), repeat=4)),
                   reverse=True)
    found = beam_search(model, torch.tensor(prime), 4, beam=81, n_best=81)
    assert [c.tokens for c in found[:10]] == [s for _, s in every[:10]]
    assert sorted(tuple(c.tokens) for c in found) == sorted(tuple(s) for _, s in every)  # all 81, once each
    assert [c.log_prob for c in found] == pytest.approx([score for score, _ in every], abs=1e-4)


def test_diverse_groups_start_apart_and_keep_true_scores():
    model, prime = tiny_model(12, 2), [5]
    plain = beam_search(model, torch.tensor(prime), 8, beam=4, n_best=4)
    diverse = beam_search(model, torch.tensor(prime), 8, beam=4, n_best=4, groups=4, diversity=50.0)
    assert len({c.tokens[0] for c in diverse}) == 4  # each group took a different first token
    assert len({c.tokens[0] for c in plain}) < 4
    for continuation in diverse:
        assert continuation.log_prob == pytest.approx(rescored(model, prime, continuation.tokens), abs=1e-4)
    assert diverse[0].log_prob <= plain[0].log_prob + 1e-5


def test_rnnkit_sample_beam_prints_the_n_best_with_their_log_probabilities(tiny_lm_run, capsys):
    import json

    from rnnkit.cli import main
    from rnnkit.tasks.lm import run as lm_run

    assert main(["sample", str(tiny_lm_run), "--prime", "KING", "--beam", "4", "--n-best", "3", "--length", "30",
                 "--json", "--device", "cpu"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["rank"] for r in records] == [1, 2, 3]
    assert [r["log_prob"] for r in records] == sorted((r["log_prob"] for r in records), reverse=True)
    loaded = lm_run.load(tiny_lm_run)
    prime = loaded.tokenizer.encode("KING").tolist()
    for record in records:
        assert record["text"].startswith("KING") and len(record["text"]) == 34
        tokens = loaded.tokenizer.encode(record["text"][4:]).tolist()
        assert record["log_prob"] == pytest.approx(rescored(loaded.model, prime, tokens), abs=1e-3)
    assert main(["sample", str(tiny_lm_run), "--beam", "4", "--n-best", "5"]) == 2
    assert main(["sample", str(tiny_lm_run), "--beam", "4", "--num", "2"]) == 2
