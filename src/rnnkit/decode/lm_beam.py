"""Beam search for a language model: the likeliest continuations of a prime, not a random one.

All beams step together (one step of the network per token for every beam, the state
carried and reordered by parent), and a beam's score is its continuation's total
log-probability under the model. Every continuation has the requested length, so
length normalisation would not change the ranking and is not offered here.

With ``groups`` > 1 this is diverse beam search (Vijayakumar et al. 2016): the beams
are split into groups chosen one after another at each step, and a group's candidates
lose ``diversity`` nats for each earlier group that picked the same token at that step
(a Hamming penalty). The penalty steers the choice only; scores stay log-probabilities.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import Tensor
from torch.nn import functional as F

from rnnkit.decode.rows import take_rows
from rnnkit.decode.sampling import SteppableModel, read_prime


@dataclasses.dataclass(frozen=True)
class Continuation:
    tokens: list[int]
    log_prob: float  # natural log, summed over the continuation's tokens


@torch.no_grad()
def beam_search(model: SteppableModel, prime: Tensor, length: int, beam: int, n_best: int = 1,
                groups: int = 1, diversity: float = 0.0) -> list[Continuation]:
    """The ``n_best`` continuations of ``prime (P,)`` found by a beam of ``beam``, best first."""
    if beam < 1 or not 1 <= n_best <= beam or groups < 1 or beam % groups or length < 1:
        raise ValueError("beam >= 1, 1 <= n_best <= beam, groups dividing beam, length >= 1")
    model.eval()
    logits, state = read_prime(model, prime[None])
    state = take_rows(state, torch.zeros(beam, dtype=torch.long, device=prime.device))
    log_probs = F.log_softmax(logits.float(), dim=-1).expand(beam, -1)
    scores = torch.full((beam,), float("-inf"), device=prime.device)
    scores[:: beam // groups] = 0.0  # at the start each group has one live beam: the others are copies
    history = torch.zeros(beam, 0, dtype=torch.long, device=prime.device)
    stepper = model.make_stepper()
    for position in range(length):
        parents, tokens, scores = choose(scores, log_probs, groups, diversity)
        history = torch.cat([history[parents], tokens[:, None]], dim=1)
        if position + 1 < length:
            logits, state = stepper.step(tokens, take_rows(state, parents))
            log_probs = F.log_softmax(logits.float(), dim=-1)
    order = torch.argsort(scores, descending=True, stable=True)[:n_best]
    return [Continuation(history[k].tolist(), float(scores[k])) for k in order]


def choose(scores: Tensor, log_probs: Tensor, groups: int, diversity: float) -> tuple[Tensor, Tensor, Tensor]:
    """One step for every group in turn: (parent row, token, new score) per beam."""
    beam, vocab = log_probs.shape
    size = beam // groups
    candidates = scores[:, None] + log_probs  # (beam, vocab): each extension's total log-probability
    used = torch.zeros(vocab, device=log_probs.device)
    parents, tokens, new_scores = [], [], []
    for group in range(groups):
        rows = slice(group * size, (group + 1) * size)
        steered = candidates[rows] - diversity * used
        best = torch.topk(steered.flatten(), size).indices
        parent, token = best // vocab + group * size, best % vocab
        parents.append(parent)
        tokens.append(token)
        new_scores.append(candidates.flatten()[parent * vocab + token])
        used = used + torch.bincount(token, minlength=vocab).to(used.dtype)
    return torch.cat(parents), torch.cat(tokens), torch.cat(new_scores)
