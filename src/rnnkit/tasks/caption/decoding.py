"""Captions from features: the translator's batched greedy and beam search over the captioner's step.

``decode.beam`` knows nothing of images: it calls ``step(words, state)`` and
reorders the state rows of the hypotheses that survive, so the captioner gives it
a step closed over the batch's (beam-repeated) image.
"""

from __future__ import annotations

import dataclasses

import torch

from rnnkit.decode.beam import Hypothesis, beam_search, greedy, log_prob_step
from rnnkit.nn.state import select_rows
from rnnkit.tasks.caption.model import BOS, EOS, Captioner
from rnnkit.train.precision import autocast


@dataclasses.dataclass
class CaptionSearch:
    """Beam 1 is greedy; ``alpha`` is the GNMT length penalty's exponent."""

    beam: int = 1
    alpha: float = 0.0
    n_best: int = 1
    max_words: int = 20
    batch_size: int = 64


@torch.no_grad()
def caption_grids(model: Captioner, grids: torch.Tensor, search: CaptionSearch,
                  precision: str = "fp32") -> list[list[Hypothesis]]:
    """The ``n_best`` captions of each image's grid (N, 49, C), in order."""
    model.eval()
    device = next(model.parameters()).device
    found: list[list[Hypothesis]] = []
    for start in range(0, len(grids), search.batch_size):
        grid = grids[start:start + search.batch_size].to(device)
        batch, limits = len(grid), [search.max_words] * len(grid)
        with autocast(device, precision):
            image, state = model.start(grid)
            if search.beam <= 1 and search.n_best <= 1:
                found += [[h] for h in greedy(log_prob_step(model.step, image), state, batch, BOS, EOS, limits, device)]
                continue
            rows = torch.arange(batch, device=device).repeat_interleave(search.beam)
            found += beam_search(log_prob_step(model.step, image.repeat(search.beam)), select_rows,
                                 select_rows(state, rows), batch, search.beam, BOS, EOS, limits, device,
                                 search.alpha, search.n_best)
    return found

