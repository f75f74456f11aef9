"""The numbers ``rnnkit eval`` reports, for any model: one definition, no torch.

Every model, neural or n-gram, is scored the same way: the total negative log
likelihood of the tokens it predicted, divided by those tokens and by the
characters they spell, so bits per character compare across tokenisers.
"""

from __future__ import annotations

import math

LN2 = math.log(2.0)


def scores(total_nats: float, tokens: int, characters: int) -> dict:
    """The numbers ``rnnkit eval`` reports, from a total loss and the counts it covers."""
    nats_per_token = total_nats / max(tokens, 1)
    nats_per_char = total_nats / max(characters, 1)
    return {
        "nats_per_token": nats_per_token,
        "bits_per_token": nats_per_token / LN2,
        "perplexity": math.exp(min(nats_per_token, 700.0)),
        "nats_per_char": nats_per_char,
        "bits_per_char": nats_per_char / LN2,
        "char_perplexity": math.exp(min(nats_per_char, 700.0)),
        "tokens": tokens,
        "characters": characters,
    }
