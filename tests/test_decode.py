"""Sampling strategies and generation with a carried state."""

import torch

from rnnkit.decode.rows import RowSampling, filter_rows, sample_rows
from rnnkit.decode.sampling import generate
from rnnkit.tasks.lm.model import LanguageModel
from rnnkit.tasks.sections import ModelConfig


def sample_next(logits, temperature=1.0, top_k=0, generator=None):
    """Every row drawn with the same settings from one generator."""
    generator = generator or torch.Generator().manual_seed(0)
    return sample_rows(logits, [RowSampling(temperature, top_k)] * len(logits), [generator] * len(logits))


def filter_logits(logits, top_p):
    return filter_rows(logits, torch.zeros(len(logits), dtype=torch.long), torch.full((len(logits),), top_p))


def test_temperature_zero_is_argmax():
    logits = torch.randn(5, 30)
    assert torch.equal(sample_next(logits, temperature=0), logits.argmax(-1))


def test_top_k_never_leaves_the_top_k():
    torch.manual_seed(0)
    logits = torch.randn(4, 50)
    allowed = torch.topk(logits, 3, dim=-1).indices
    generator = torch.Generator().manual_seed(1)
    for _ in range(300):
        drawn = sample_next(logits, temperature=2.0, top_k=3, generator=generator)
        assert all(drawn[row] in allowed[row] for row in range(4))


def test_top_p_keeps_the_smallest_set_with_enough_mass():
    probs = torch.tensor([[0.5, 0.3, 0.15, 0.05]])
    kept = torch.isfinite(filter_logits(probs.log(), top_p=0.8))
    assert kept.tolist() == [[True, True, False, False]]
    kept = torch.isfinite(filter_logits(probs.log(), top_p=0.81))
    assert kept.tolist() == [[True, True, True, False]]
    kept = torch.isfinite(filter_logits(probs.log(), top_p=0.1))
    assert kept.tolist() == [[True, False, False, False]]  # the top token always survives


def test_sampling_follows_the_distribution():
    probs = torch.tensor([0.7, 0.2, 0.1])
    generator = torch.Generator().manual_seed(0)
    draws = sample_next(probs.log().expand(20000, 3), generator=generator)
    freq = torch.bincount(draws, minlength=3) / 20000
    torch.testing.assert_close(freq, probs, atol=0.015, rtol=0)


def _model(cell="lstm", backend="fused"):
    torch.manual_seed(0)
    return LanguageModel(17, ModelConfig(cell=cell, hidden_size=24, num_layers=2, backend=backend)).eval()


def test_same_seed_same_tokens_and_greedy_matches_full_forward():
    model = _model()
    prime = torch.tensor([[1, 2, 3]])
    a = [int(t) for t in generate(model, prime, 40, generator=torch.Generator().manual_seed(5))]
    b = [int(t) for t in generate(model, prime, 40, generator=torch.Generator().manual_seed(5))]
    assert a == b
    greedy = [int(t) for t in generate(model, prime, 15, temperature=0)]
    # re-read prime + generated text from scratch: each greedy token is the argmax there
    sequence = torch.tensor([[1, 2, 3, *greedy]])
    logits, _ = model(sequence)
    assert logits[0, 2:-1].argmax(-1).tolist() == greedy


def test_generation_carries_state_instead_of_rereading():
    model = _model("gru", "eager")
    calls = []
    original = model.forward
    model.forward = lambda ids, state=None: (calls.append(ids.shape), original(ids, state))[1]
    list(generate(model, torch.tensor([[1, 2, 3, 4]]), 25, generator=torch.Generator().manual_seed(0)))
    assert calls == [torch.Size([1, 4])]  # the prime is read once; then one step per token
