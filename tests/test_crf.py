"""The linear-chain CRF against brute-force enumeration of every tag sequence, and finite differences."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from rnnkit.nn.crf import LinearChainCRF, bio_allowed

TAGS, STEPS = 3, 4
LENGTHS = [4, 2, 3, 1]


def _random_crf(seed: int, dtype=torch.float32, **kwargs) -> tuple[LinearChainCRF, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    crf = LinearChainCRF(TAGS, **kwargs).to(dtype)
    with torch.no_grad():
        for parameter in crf.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator, dtype=dtype))
    emissions = torch.randn(len(LENGTHS), STEPS, TAGS, generator=generator, dtype=dtype)
    mask = torch.arange(STEPS)[None, :] < torch.tensor(LENGTHS)[:, None]
    return crf, emissions, mask


def _path_score(crf: LinearChainCRF, emissions: np.ndarray, path: tuple[int, ...]) -> float:
    """The score of one tag sequence, written out from the definition."""
    trans = (crf.transitions + crf.penalty).detach().double().numpy()
    start = (crf.start + crf.first_penalty).detach().double().numpy()
    end = crf.end.detach().double().numpy()
    total = start[path[0]] + end[path[-1]]
    for t, tag in enumerate(path):
        total += emissions[t, tag]
        if t:
            total += trans[path[t - 1], tag]
    return float(total)


def _every_path(crf: LinearChainCRF, emissions: torch.Tensor, row: int) -> dict[tuple[int, ...], float]:
    length = LENGTHS[row]
    scores = emissions[row, :length].detach().double().numpy()
    return {path: _path_score(crf, scores, path) for path in itertools.product(range(TAGS), repeat=length)}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_log_partition_equals_the_log_sum_over_every_sequence(seed):
    crf, emissions, mask = _random_crf(seed)
    found = crf.log_partition(emissions, mask).detach()
    for row in range(len(LENGTHS)):
        scores = np.array(list(_every_path(crf, emissions, row).values()))
        expected = scores.max() + math.log(np.exp(scores - scores.max()).sum())
        assert float(found[row]) == pytest.approx(expected, abs=1e-4)


@pytest.mark.parametrize("seed", [3, 4, 5])
def test_viterbi_equals_the_brute_force_argmax_and_score_the_definition(seed):
    crf, emissions, mask = _random_crf(seed)
    best = crf.viterbi(emissions, mask)
    for row, length in enumerate(LENGTHS):
        paths = _every_path(crf, emissions, row)
        expected = max(paths, key=paths.get)
        assert tuple(best[row, :length].tolist()) == expected
        assert best[row, length:].eq(0).all()
    tags = torch.randint(0, TAGS, (len(LENGTHS), STEPS), generator=torch.Generator().manual_seed(seed))
    scored = crf.score(emissions, tags, mask).detach()
    for row, length in enumerate(LENGTHS):
        path = tuple(tags[row, :length].tolist())
        assert float(scored[row]) == pytest.approx(_every_path(crf, emissions, row)[path], abs=1e-4)


def test_the_loss_gradient_equals_finite_differences_in_float64():
    crf, emissions, mask = _random_crf(7, torch.float64)
    tags = torch.randint(0, TAGS, (len(LENGTHS), STEPS), generator=torch.Generator().manual_seed(7))
    emissions.requires_grad_(True)
    crf.nll(emissions, tags, mask).sum().backward()
    for tensor in (emissions, *crf.parameters()):
        flat, grad = tensor.data.view(-1), tensor.grad.view(-1)
        for i in range(flat.numel()):
            kept = float(flat[i])
            with torch.no_grad():
                flat[i] = kept + 1e-6
                up = float(crf.nll(emissions, tags, mask).sum())
                flat[i] = kept - 1e-6
                down = float(crf.nll(emissions, tags, mask).sum())
                flat[i] = kept
            assert float(grad[i]) == pytest.approx((up - down) / 2e-6, abs=1e-6)


def test_a_padded_batch_scores_and_decodes_each_sentence_as_if_alone():
    crf, emissions, mask = _random_crf(8)
    emissions = emissions.clone()
    tags = torch.randint(0, TAGS, (len(LENGTHS), STEPS), generator=torch.Generator().manual_seed(8))
    emissions[~mask] = 1e3 * torch.randn(int((~mask).sum()), TAGS)  # padding that would dominate if it counted
    together, best = crf.nll(emissions, tags, mask).detach(), crf.viterbi(emissions, mask)
    for row, length in enumerate(LENGTHS):
        alone_mask = torch.ones(1, length, dtype=torch.bool)
        alone = crf.nll(emissions[row:row + 1, :length], tags[row:row + 1, :length], alone_mask).detach()
        assert float(together[row]) == pytest.approx(float(alone), abs=1e-4)
        assert best[row, :length].tolist() == crf.viterbi(emissions[row:row + 1, :length], alone_mask)[0].tolist()


def test_bio_constraints_give_invalid_sequences_no_mass_and_viterbi_never_picks_one():
    tags = ["O", "B-PER", "I-PER"]
    allowed, first = bio_allowed(tags)
    assert not allowed[0, 2] and allowed[1, 2] and allowed[2, 2] and not first[2] and first[1]
    crf, emissions, mask = _random_crf(9, allowed=allowed, first=first)
    emissions = emissions.clone()
    emissions[..., 2] += 5.0  # I-PER everywhere is what the emissions want
    best = crf.viterbi(emissions, mask)
    for row, length in enumerate(LENGTHS):
        path = best[row, :length].tolist()
        assert path[0] != 2 and all(not (a == 0 and b == 2) for a, b in itertools.pairwise(path))
    valid = [p for p in itertools.product(range(3), repeat=LENGTHS[0])
             if p[0] != 2 and all(not (a == 0 and b == 2) for a, b in itertools.pairwise(p))]
    scores = np.array([_path_score(crf, emissions[0].double().numpy(), p) for p in valid])
    expected = scores.max() + math.log(np.exp(scores - scores.max()).sum())
    assert float(crf.log_partition(emissions, mask).detach()[0]) == pytest.approx(expected, abs=1e-3)
