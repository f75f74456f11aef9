"""What a language model answers over HTTP: generate (batched across clients), score, neurons.

Each verb computes what its command computes (``rnnkit sample``, ``eval``, ``viz``) from
the same functions, so a request and the command agree for the same run and seed.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch.nn import functional as F

from rnnkit.data.tokenizers import StreamDecoder
from rnnkit.errors import UserError

if TYPE_CHECKING:
    from rnnkit.tasks.bodies import GenerateBody, NeuronsBody, ScoreBody
    from rnnkit.tasks.interface import Served
    from rnnkit.tasks.lm.run import LoadedRun

TOP = 5  # next-token predictions per position, as on the neuron page


def batcher_of(served: Served):
    from rnnkit.decode.batcher import Batcher

    loaded, limits = served.loaded, served.limits
    return served.shared("batcher", lambda: Batcher(loaded.model, loaded.device, served.precision,
                                                    limits.max_batch, limits.max_waiting))


async def generate(served: Served, body: GenerateBody) -> AsyncIterator[tuple[int, str]]:
    """``(sample, text)`` as the batcher produces it (what arrived since the last piece, together);
    sample i is drawn with seed + i."""
    from rnnkit.decode.batcher import Stream
    from rnnkit.decode.rows import RowSampling
    from rnnkit.tasks.lm import run as lm_run

    if body.label is not None:
        raise UserError("label: this model is a stream of text, not a conditioned line model; drop label")
    ids = lm_run.prime_ids(served.loaded, body.prime, "prime").tolist()
    if len(ids) > served.limits.max_length:  # a prime is read while every other stream waits
        raise UserError(f"prime: {len(ids):,} tokens, over this server's {served.limits.max_length:,}; "
                        "send the end of it")
    arrivals: asyncio.Queue = asyncio.Queue()
    sampling = RowSampling(body.temperature, body.top_k, body.top_p)

    def sink_for(index: int):
        return lambda token: arrivals.put_nowait((index, token))

    loop = asyncio.get_running_loop()
    streams = [Stream(ids, body.length, sampling, body.seed + i, sink_for(i), loop=loop) for i in range(body.n)]
    batcher_of(served).submit(streams)
    decoders = [StreamDecoder(served.loaded.tokenizer) for _ in streams]
    try:
        async for index, text in arriving(arrivals, decoders, len(streams)):
            yield index, text
    finally:
        for stream in streams:  # a client gone mid-stream frees its rows at the next step
            stream.cancel()


async def arriving(arrivals: asyncio.Queue, decoders: list, streams: int) -> AsyncIterator[tuple[int, str]]:
    """Decoded text per sample, everything queued so far in one piece per sample."""
    from rnnkit.decode.batcher import DONE

    while streams:
        items = [await arrivals.get()]
        while not arrivals.empty():
            items.append(arrivals.get_nowait())
        texts: dict[int, str] = {}
        for index, token in items:
            if isinstance(token, BaseException):
                raise token
            if token is DONE:
                streams -= 1
                continue
            piece = decoders[index].feed(token)
            if piece:
                texts[index] = texts.get(index, "") + piece
        for index, text in texts.items():
            yield index, text


@torch.no_grad()
def surprisals(loaded: LoadedRun, ids: np.ndarray) -> np.ndarray:
    """Bits of surprise of each token after the first, given all before it, in one pass."""
    tokens = torch.as_tensor(ids, device=loaded.device)[None]
    logits, _ = loaded.model(tokens[:, :-1])
    nats = F.cross_entropy(logits[0].float(), tokens[0, 1:], reduction="none")
    return (nats / math.log(2)).cpu().numpy()


def token_ids(loaded: LoadedRun, text: str) -> tuple[np.ndarray, list[str]]:
    ids = loaded.tokenizer.encode(text)
    if len(ids) < 2:
        raise UserError("text: needs at least 2 tokens to score; send a longer text")
    return ids, loaded.tokenizer.pieces(text)


def score(served: Served, body: ScoreBody) -> dict:
    """Bits per character over the text and each token's surprisal (the first token has none)."""
    from rnnkit.eval.results import TextScores, finite
    from rnnkit.eval.scores import scores

    loaded = served.loaded
    ids, pieces = token_ids(loaded, body.text)
    bits = surprisals(loaded, ids)
    result = TextScores.of(scores(float(bits.sum()) * math.log(2), len(bits), loaded.tokenizer.token_chars(ids[1:])),
                           unknown_tokens=int((ids == 0).sum()))
    return {"scores": finite(result.to_dict()), "tokens": pieces,
            "surprisal_bits": [None, *(round(float(b), 4) for b in bits)]}


def neurons(served: Served, body: NeuronsBody) -> dict:
    """The chosen units' activations after each token, and the five likeliest next tokens there."""
    from rnnkit.tasks.lm.model import LanguageModel
    from rnnkit.tasks.lm.reading import next_token_tops
    from rnnkit.viz.activations import activations

    loaded = served.loaded
    if not isinstance(loaded.model, LanguageModel):
        raise UserError("neurons reads the PyTorch model's states; this server runs it with --runtime onnx or "
                        "--quantize int8, so serve it without them for neurons")
    recurrent = loaded.model.recurrent
    if recurrent.bidirectional:
        raise UserError("a bidirectional model sees the future; neurons reads one-directional models")
    ids, pieces = token_ids(loaded, body.text)
    states = activations(recurrent, loaded.model.embedding.weight, ids)
    chosen = {}
    for name in body.neurons:
        state, unit = name.split(":")
        if state not in states or int(unit) >= states[state].shape[1]:
            raise UserError(f"neurons: {name} is not a unit of this model (states {', '.join(states)}, "
                            f"units 0-{recurrent.hidden_size - 1})")
        chosen[name] = [round(float(v), 5) for v in states[state][:, int(unit)]]
    top_ids, top_probs = next_token_tops(loaded, states[f"h{recurrent.num_layers - 1}"])
    vocab = loaded.tokenizer
    top = [[{"token": vocab.decode([int(i)]), "p": round(float(p), 5)} for i, p in zip(row_ids, row_p, strict=True)]
           for row_ids, row_p in zip(top_ids[:, :TOP], top_probs[:, :TOP], strict=True)]
    return {"tokens": pieces, "activations": chosen, "top": top}
