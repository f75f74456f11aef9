"""Greedy and beam-search decoding over any step function, a batch at a time.

``step(tokens (N,), state) -> (log_probs (N, V), state, attention (N, S) or None)``
is the model; ``reorder(state, index)`` keeps the rows a beam survives in. The
search is the standard one (as in fairseq and Marian): each step takes the best
2k extensions of the k live hypotheses, finishes those that end with the end
token among the best k, and keeps the best k that do not. Scores are summed log
probabilities, divided by the GNMT length penalty ``((5 + n) / 6) ** alpha`` when
``alpha`` > 0. A sentence stops once it has k finished hypotheses or, with
``alpha`` 0, once no live one can still enter the n best finished ones (log
probabilities only fall); every hypothesis stops at its ``max_length``.

Which hypotheses a search finds does not depend on a positive ``alpha``: the beam is
pruned on plain log probabilities and only the finished ones are penalised. So one
search with ``alpha`` > 0 and a large ``n_best`` holds every finished hypothesis, and
``penalised`` ranks them as a search with any other alpha (0 included: it only stops
sooner) would.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

Step = Callable[[Tensor, Any], tuple[Tensor, Any, Tensor | None]]
Reorder = Callable[[Any, Tensor], Any]


@dataclasses.dataclass
class Hypothesis:
    tokens: list[int]          # without the start and end tokens
    log_prob: float            # sum over the tokens and the end token (if it ended)
    score: float               # log_prob with the length penalty applied
    attention: Tensor | None   # (len(tokens) + 1, S): the weights at each output step
    ended: bool = True         # False: cut at the maximum length


def log_prob_step(decode_step: Callable[[Tensor, Any, Any], tuple[Tensor, Any, Tensor | None]],
                  context: Any) -> Step:
    """A model's ``step(tokens, state, context) -> (logits, state, attention)`` as the search's ``Step``,
    closed over what it reads (a source memory, an image), with log probabilities in float32."""
    def step(tokens: Tensor, state: Any) -> tuple[Tensor, Any, Tensor | None]:
        logits, state, weights = decode_step(tokens, state, context)
        return torch.log_softmax(logits.float(), dim=-1), state, weights
    return step


def length_penalty(length: int, alpha: float) -> float:
    return ((5 + length) / 6) ** alpha if alpha > 0 else 1.0


def penalised(hypothesis: Hypothesis, alpha: float) -> float:
    """The hypothesis's score under ``alpha``; its length counts the end token when it ended."""
    length = len(hypothesis.tokens) + (1 if hypothesis.ended else 0)
    return hypothesis.log_prob / length_penalty(length, alpha)


@torch.no_grad()
def greedy(step: Step, state: Any, batch: int, bos: int, eos: int, max_length: list[int],
           device: torch.device) -> list[Hypothesis]:
    """The likeliest next token at every step, for ``batch`` sentences at once."""
    tokens = torch.full((batch,), bos, dtype=torch.long, device=device)
    outputs: list[list[int]] = [[] for _ in range(batch)]
    log_probs = [0.0] * batch
    weights: list[list[Tensor]] = [[] for _ in range(batch)]
    live = set(range(batch))
    for t in range(max(max_length)):
        scores, state, attention = step(tokens, state)
        best = scores.max(dim=-1)
        values, tokens = best.values.tolist(), best.indices
        for row in list(live):
            log_probs[row] += values[row]
            if attention is not None:
                weights[row].append(attention[row].float().cpu())
            token = int(tokens[row])
            if token == eos:
                live.discard(row)
            else:
                outputs[row].append(token)
                if t + 1 >= max_length[row]:
                    live.discard(row)
        if not live:
            break
    return [Hypothesis(outputs[row], log_probs[row], log_probs[row],
                       torch.stack(weights[row]) if weights[row] else None,
                       len(outputs[row]) < max_length[row]) for row in range(batch)]


@torch.no_grad()
def beam_search(step: Step, reorder: Reorder, state: Any, batch: int, beam: int, bos: int, eos: int,
                max_length: list[int], device: torch.device, alpha: float = 0.0,
                n_best: int = 1) -> list[list[Hypothesis]]:
    """The ``n_best`` best hypotheses of each sentence; ``state`` holds ``batch * beam`` rows, each
    sentence's ``beam`` rows together (``repeat_interleave``). A sentence finishes with fewer than
    ``2 * beam`` hypotheses, so an ``n_best`` of ``2 * beam`` returns all of them."""
    rows = batch * beam
    tokens = torch.full((rows,), bos, dtype=torch.long, device=device)
    scores = torch.full((batch, beam), float("-inf"), device=device)
    scores[:, 0] = 0.0  # every beam starts as one hypothesis
    history: list[list[int]] = [[] for _ in range(rows)]
    attention_history: list[list[Tensor]] = [[] for _ in range(rows)]
    finished: list[list[Hypothesis]] = [[] for _ in range(batch)]
    done = [False] * batch
    for t in range(max(max_length)):
        log_probs, state, attention = step(tokens, state)
        vocab = log_probs.shape[-1]
        total = (scores.unsqueeze(-1) + log_probs.float().view(batch, beam, vocab)).view(batch, -1)
        top_scores, top_index = (x.tolist() for x in total.topk(min(2 * beam, total.shape[-1]), dim=-1))
        keep = []  # (row, token, score) of every surviving hypothesis, each sentence's beam rows together
        for b in range(batch):
            chosen: list[tuple[int, int, float]] = []
            if not done[b]:
                last_step = t + 1 >= max_length[b]
                candidates = [(b * beam + flat // vocab, flat % vocab, value)
                              for value, flat in zip(top_scores[b], top_index[b], strict=True)]
                chosen = _extend(candidates, beam, eos, last_step, finished[b], (history, attention_history,
                                                                                  attention, alpha))
                done[b] = _sentence_done(finished[b], chosen, beam, alpha, n_best) or last_step
            keep += chosen + [(b * beam, eos, float("-inf"))] * (beam - len(chosen))  # placeholders when done
        keep_rows, keep_tokens, keep_scores = (list(column) for column in zip(*keep, strict=True))
        if all(done):
            break
        state = reorder(state, torch.tensor(keep_rows, device=device))
        tokens = torch.tensor(keep_tokens, device=device)
        scores = torch.tensor(keep_scores, device=device).view(batch, beam)
        history = [history[r] + [k] for r, k in zip(keep_rows, keep_tokens, strict=True)]
        if attention is not None:
            attention_history = [attention_history[r] + [attention[r].float().cpu()] for r in keep_rows]
    return [sorted(found, key=lambda h: -h.score)[:n_best] for found in finished]


def _extend(candidates: list[tuple[int, int, float]], beam: int, eos: int, last_step: bool,
            finished: list[Hypothesis], past: tuple) -> list[tuple[int, int, float]]:
    """One sentence's next beam from its best ``(row, token, score)`` candidates, best first: a candidate
    that ends (``eos``, or the length limit) joins ``finished`` if it ranks within the beam; the rest
    extend until the beam is full. ``past`` is (tokens so far, attention so far, this step's attention,
    alpha) for the rows."""
    history, attention_history, attention, alpha = past
    chosen: list[tuple[int, int, float]] = []
    for rank, (row, token, value) in enumerate(candidates):
        if value == float("-inf"):
            break
        if token == eos or last_step:
            if rank < beam:
                ended = token == eos
                finished.append(_hypothesis(history[row] + ([] if ended else [token]), value,
                                            attention_history[row], attention, row, alpha, ended))
        elif len(chosen) < beam:
            chosen.append((row, token, value))
        if len(chosen) == beam and rank >= beam - 1:
            break
    return chosen


def _hypothesis(tokens: list[int], log_prob: float, past: list[Tensor], attention: Tensor | None, row: int,
                alpha: float, ended: bool) -> Hypothesis:
    weights = torch.stack([*past, attention[row].float().cpu()]) if attention is not None else None
    found = Hypothesis(tokens, log_prob, log_prob, weights, ended)
    found.score = penalised(found, alpha)
    return found


def _sentence_done(finished: list[Hypothesis], live: list[tuple[int, int, float]], beam: int,
                   alpha: float, n_best: int) -> bool:
    if len(finished) >= beam or not live:
        return True
    if alpha == 0 and len(finished) >= n_best:  # no live hypothesis can still enter the n best finished
        worst_kept = sorted((h.score for h in finished), reverse=True)[n_best - 1]
        return worst_kept >= max(value for _, _, value in live)
    return False
