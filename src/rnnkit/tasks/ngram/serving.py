"""What an n-gram model answers over HTTP: ``generate`` and ``score``, as its commands do."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from rnnkit.errors import UserError
from rnnkit.tasks.requests import Sampling

if TYPE_CHECKING:
    from rnnkit.tasks.bodies import GenerateBody, ScoreBody
    from rnnkit.tasks.interface import Served


def generate(served: Served, body: GenerateBody) -> list[tuple[int, str]]:
    """Sample i drawn with seed + i, its prime dropped (the response carries it once)."""
    from rnnkit.tasks.ngram import run as ngram_run

    if body.label is not None:
        raise UserError("label: an n-gram model is not conditioned on labels; drop label")
    sampling = Sampling(body.prime, body.length, body.temperature, body.top_k, body.top_p, body.seed)
    found = []
    for index in range(body.n):
        text = "".join(ngram_run.sample(served.loaded, dataclasses.replace(sampling, seed=body.seed + index)))
        found.append((index, text[len(body.prime):] if body.prime and text.startswith(body.prime) else text))
    return found


def score(served: Served, body: ScoreBody) -> dict:
    from rnnkit.eval.results import finite
    from rnnkit.tasks.ngram import run as ngram_run

    return {"scores": finite(ngram_run.score_text(served.loaded, body.text, "text").to_dict())}
