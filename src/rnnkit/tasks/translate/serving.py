"""What a translator answers over HTTP: ``translate``, n-best lists and attention on request."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rnnkit.errors import UserError

if TYPE_CHECKING:
    from rnnkit.tasks.bodies import TranslateBody
    from rnnkit.tasks.interface import Served


def translate(served: Served, body: TranslateBody) -> dict:
    """The records of ``rnnkit predict RUN SENTENCE... --json``, each best one's attention if asked."""
    from rnnkit.tasks.translate import run as translate_run
    from rnnkit.tasks.translate.commands import attention_axes
    from rnnkit.tasks.translate.decoding import Decoding
    from rnnkit.tasks.translate.length_penalty import alpha_for

    if body.n_best > body.beam:
        raise UserError(f"n_best: {body.n_best} is more than beam {body.beam}; raise beam or lower n_best")
    loaded = served.loaded
    if body.attention and loaded.model.attention is None:
        raise UserError("attention: this translator was trained without attention; drop attention")
    decoding = Decoding(body.beam, alpha_for(loaded.config, body.beam, body.alpha), body.n_best, body.max_length)
    results = []
    for sentence, found in zip(body.sentences, translate_run.translate(loaded, body.sentences, decoding),
                               strict=True):
        record = {"source": sentence, "translations": [
            {"text": text, "log_prob": round(h.log_prob, 4), "score": round(h.score, 4)} for text, h in found]}
        if body.attention:
            source_tokens, target_tokens, weights = attention_axes(loaded, sentence, found[0])
            record["attention"] = {"source": source_tokens, "target": target_tokens,
                                   "weights": [[round(float(w), 4) for w in row] for row in weights]}
        results.append(record)
    return {"results": results}
