"""A generation's pieces as one JSON answer, or as Server-Sent Events while they are produced.

Events: ``data: {"sample": i, "text": piece}`` for each piece, then ``event: done`` with
every sample's whole text; a failure after the stream began is ``event: error``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator

from rnnkit.errors import UserError
from rnnkit.tasks.bodies import GenerateBody

log = logging.getLogger("rnnkit.serve")


def echoed_prime(body: GenerateBody) -> str:
    """The prime as ``rnnkit sample`` prints it before its text (a line model's lines hold it)."""
    from rnnkit.data.tokenizers import normalize

    return normalize(body.prime) if body.prime else ""


def summary(texts: list[str], body: GenerateBody) -> dict:
    return {"prime": echoed_prime(body),
            "samples": [{"sample": i, "seed": body.seed + i, "text": t} for i, t in enumerate(texts)]}


async def collect(pieces: AsyncIterator[tuple[int, str]], body: GenerateBody) -> dict:
    texts = [""] * body.n
    async for index, piece in pieces:
        texts[index] += piece
    return summary(texts, body)


def event(data: dict, name: str | None = None) -> str:
    head = f"event: {name}\n" if name else ""
    return f"{head}data: {json.dumps(data, ensure_ascii=False)}\n\n"


async def sse(pieces: AsyncIterator[tuple[int, str]], body: GenerateBody) -> AsyncIterator[str]:
    texts = [""] * body.n
    try:
        async for index, piece in pieces:
            texts[index] += piece
            yield event({"sample": index, "text": piece})
    except UserError as err:
        yield event({"error": str(err)}, "error")
        return
    except Exception as err:  # the status line is gone: the failure becomes the stream's last event
        log.exception("generation failed mid-stream")
        yield event({"error": f"internal error ({type(err).__name__}); the server log has the details"}, "error")
        return
    yield event(summary(texts, body), "done")
