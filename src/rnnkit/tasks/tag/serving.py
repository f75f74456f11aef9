"""What a tagger answers over HTTP: ``tag``, a tag for every word of each sentence."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rnnkit.tasks.bodies import TagBody
    from rnnkit.tasks.interface import Served


def tag(served: Served, body: TagBody) -> dict:
    """The same records as ``rnnkit predict RUN SENTENCE... --json``, one per sentence."""
    from rnnkit.tasks.tag import run as tag_run

    sentences = [text.split() for text in body.sentences]
    found = tag_run.tag(served.loaded, sentences)
    return {"results": [{"words": words, "tags": tags} for words, tags in zip(sentences, found, strict=True)]}
