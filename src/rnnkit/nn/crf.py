"""A linear-chain CRF over per-token scores: the forward algorithm for the loss, Viterbi to decode.

A tag sequence y of a sentence with emissions E (T, C) scores

    s(y) = start[y_1] + sum_t E[t, y_t] + sum_{t>1} trans[y_{t-1}, y_t] + end[y_T]

and p(y) = exp s(y) / Z, where log Z is a log-sum-exp over all C**T sequences, computed
in O(T C^2) by the forward recursion alpha_t[j] = logsumexp_i(alpha_{t-1}[i] + trans[i, j])
+ E[t, j]. Viterbi is the same recursion with max for logsumexp. Batches are padded: a
mask (B, T) of valid steps holds alpha where a sentence has ended, so a padded batch
scores each sentence as if it were alone. Disallowed transitions (BIO's O -> I-X) get a
large negative score, which keeps gradients finite where -inf would make them NaN.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

FORBIDDEN = -1e4  # added to a disallowed transition: exp() of it is 0 in float32


def bio_allowed(tags: list[str]) -> tuple[Tensor, Tensor]:
    """Which transitions (C, C) and first tags (C,) make a valid BIO2 sequence: I-X only after
    B-X or I-X, never first."""
    size = len(tags)
    allowed = torch.ones(size, size, dtype=torch.bool)
    first = torch.ones(size, dtype=torch.bool)
    for j, tag in enumerate(tags):
        if tag.startswith("I-"):
            first[j] = False
            for i, before in enumerate(tags):
                allowed[i, j] = before in ("B-" + tag[2:], tag)
    return allowed, first


class LinearChainCRF(nn.Module):
    """Transition, start and end scores over ``num_tags`` tags; ``allowed`` masks transitions."""

    def __init__(self, num_tags: int, allowed: Tensor | None = None, first: Tensor | None = None) -> None:
        super().__init__()
        self.transitions = nn.Parameter(torch.zeros(num_tags, num_tags))  # [from, to]
        self.start = nn.Parameter(torch.zeros(num_tags))
        self.end = nn.Parameter(torch.zeros(num_tags))
        penalty = torch.zeros(num_tags, num_tags) if allowed is None else (~allowed).float() * FORBIDDEN
        first_penalty = torch.zeros(num_tags) if first is None else (~first).float() * FORBIDDEN
        self.register_buffer("penalty", penalty, persistent=False)
        self.register_buffer("first_penalty", first_penalty, persistent=False)

    def _scores(self) -> tuple[Tensor, Tensor]:
        return self.transitions + self.penalty, self.start + self.first_penalty

    def log_partition(self, emissions: Tensor, mask: Tensor) -> Tensor:
        """log Z per sentence (B,) from emissions (B, T, C) and a mask (B, T) of valid steps."""
        transitions, start = self._scores()
        alpha = start + emissions[:, 0]                                        # (B, C)
        for t in range(1, emissions.shape[1]):
            step = torch.logsumexp(alpha[:, :, None] + transitions, dim=1) + emissions[:, t]  # (B, C)
            alpha = torch.where(mask[:, t, None], step, alpha)
        return torch.logsumexp(alpha + self.end, dim=1)

    def score(self, emissions: Tensor, tags: Tensor, mask: Tensor) -> Tensor:
        """s(y) per sentence (B,) for tags (B, T) (padding: any tag)."""
        transitions, start = self._scores()
        valid = mask.float()
        picked = emissions.gather(2, tags[..., None]).squeeze(-1)              # (B, T)
        total = start[tags[:, 0]] + (picked * valid).sum(1)
        total = total + (transitions[tags[:, :-1], tags[:, 1:]] * valid[:, 1:]).sum(1)
        last = tags.gather(1, (mask.sum(1) - 1).clamp(min=0)[:, None]).squeeze(1)
        return total + self.end[last]

    def nll(self, emissions: Tensor, tags: Tensor, mask: Tensor) -> Tensor:
        """-log p(tags) per sentence (B,): the training loss."""
        return self.log_partition(emissions, mask) - self.score(emissions, tags, mask)

    @torch.no_grad()
    def viterbi(self, emissions: Tensor, mask: Tensor) -> Tensor:
        """The best tag sequence (B, T) of each sentence; positions past its length are 0."""
        transitions, start = self._scores()
        batch, steps, _ = emissions.shape
        best = start + emissions[:, 0]                                         # (B, C)
        back = []
        for t in range(1, steps):
            candidates = best[:, :, None] + transitions                        # (B, from, to)
            value, came_from = candidates.max(dim=1)
            back.append(came_from)
            best = torch.where(mask[:, t, None], value + emissions[:, t], best)
        lengths = mask.sum(1)
        tag = (best + self.end).argmax(1)                                      # (B,)
        path = torch.zeros(batch, steps, dtype=torch.long, device=emissions.device)
        for t in range(steps - 1, -1, -1):
            inside = t < lengths
            path[:, t] = torch.where(inside, tag, 0)
            if t > 0:
                stepped = back[t - 1].gather(1, tag[:, None]).squeeze(1)
                tag = torch.where(t < lengths, stepped, tag)  # before a sentence's end, follow it back
        return path
