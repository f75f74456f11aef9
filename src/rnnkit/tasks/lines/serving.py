"""What a line model answers over HTTP: ``generate``, whole lines, with a label where it is conditioned."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rnnkit.tasks.requests import Sampling

if TYPE_CHECKING:
    from rnnkit.tasks.bodies import GenerateBody
    from rnnkit.tasks.interface import Served


def generate(served: Served, body: GenerateBody) -> list[tuple[int, str]]:
    """``n`` lines drawn together from one seed, as ``rnnkit sample RUN --num n`` draws them."""
    from rnnkit.tasks.lines import run as line_run

    sampling = Sampling(body.prime, body.length, body.temperature, body.top_k, body.top_p, body.seed)
    return list(enumerate(line_run.sample(served.loaded, body.n, body.label, sampling)))
