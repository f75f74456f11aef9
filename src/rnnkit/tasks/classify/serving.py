"""What a classifier answers over HTTP: ``classify``, each text's likeliest labels."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rnnkit.tasks.bodies import ClassifyBody
    from rnnkit.tasks.interface import Served


def classify(served: Served, body: ClassifyBody) -> dict:
    """The same records as ``rnnkit predict RUN TEXT... --json``, one per text."""
    from rnnkit.tasks.classify import run as classify_run

    found = classify_run.predict(served.loaded, body.texts, body.top_k)
    return {"results": [{"text": text, "labels": [{"label": y, "probability": round(p, 6)} for y, p in top]}
                        for text, top in zip(body.texts, found, strict=True)]}
