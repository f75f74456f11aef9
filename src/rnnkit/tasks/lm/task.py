"""Truncated BPTT on a token stream: the language model's side of the training loop."""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F

from rnnkit.data.batching import StreamBatches
from rnnkit.data.tokenizers import Tokenizer
from rnnkit.decode.sampling import generate
from rnnkit.errors import UserError
from rnnkit.eval.perplexity import stream_nats
from rnnkit.eval.scores import scores
from rnnkit.nn import detach_state, map_state
from rnnkit.nn.regularisers import activation_penalty
from rnnkit.tasks.lm.model import LanguageModel
from rnnkit.tasks.sections import DataConfig
from rnnkit.train import distributed
from rnnkit.train.precision import autocast


class LanguageModelTask:
    """Loss, validation, samples and the carried hidden state for ``TrainLoop``.

    Under torchrun, rank r of W trains streams ``[r B/W, (r+1) B/W)`` of the global batch of B and
    carries their state, so the ranks together take the steps one process takes with all B."""

    def __init__(self, model: LanguageModel, tokenizer: Tokenizer, train_ids: np.ndarray,
                 val_ids: np.ndarray, data: DataConfig, start_text: str, device: torch.device,
                 sample_length: int, precision: str = "fp32", seed: int = 0) -> None:
        self.model, self.tokenizer, self.device = model, tokenizer, device
        self.precision, self.seed = precision, seed
        self.batches = StreamBatches(train_ids, data.batch_size, data.seq_len)
        self.val_ids = val_ids
        self.val_chars = tokenizer.token_chars(val_ids[1:])
        self.data = data
        head = train_ids[:100_000]
        self.chars_per_token = tokenizer.token_chars(head) / max(len(head), 1)
        self.start_ids = tokenizer.encode(start_text)
        self.sample_length = sample_length
        self.state = None
        self.world = distributed.current()
        self.rows = streams_of(self.world, data.batch_size)

    unit = "chars"  # what units_per_step counts, as the log and the progress bar name it

    def units_per_step(self) -> float:
        """Characters of text one step trains on (tokens times their average length)."""
        return self.data.batch_size * self.data.seq_len * self.chars_per_token

    def loss(self, step: int) -> torch.Tensor:
        inputs, targets, starts_epoch = self.batches.batch(step)
        inputs, targets = inputs[self.rows], targets[self.rows]
        if starts_epoch:
            self.state = None  # each pass over the data starts from a zero state
        config = self.model.config
        with autocast(self.device, self.precision):
            logits, state, (raw, out) = self.model(inputs.to(self.device), self.state, with_activations=True)
        self.state = self._restart_some(detach_state(state), step)  # truncated BPTT: carry the value, cut the graph
        loss = F.cross_entropy(logits.flatten(0, 1).float(), targets.to(self.device).flatten())
        if config.ar or config.tar:
            loss = loss + activation_penalty(raw, out, config.ar, config.tar)
        return self.world.share(loss, 1, self.world.size)  # every rank holds B/W streams

    def _restart_some(self, state, step: int):
        """Zero the state of a random few streams. A model that only ever continues a carried
        state can learn dynamics that lock up when started cold on some inputs (measured:
        after 600 steps on Tiny Shakespeare, one in sixteen validation streams fell to 9 nats
        per character); restarting a few streams per step shows it cold starts everywhere.
        The draw depends only on the seed and the step, so a resumed run repeats it."""
        if self.data.state_reset <= 0:
            return state
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + step)
        keep = (torch.rand(self.data.batch_size, 1, generator=generator) >= self.data.state_reset)
        keep = keep[self.rows].to(self.device)  # the global draw, this rank's streams
        return map_state(lambda t: t * keep.to(t.dtype), state)

    def evaluate(self) -> dict:
        with autocast(self.device, self.precision):
            total, tokens = stream_nats(self.model, self.val_ids, self.data.eval_streams,
                                        self.data.seq_len, self.device, self.world)
        result = scores(total, tokens, self.val_chars)
        return {"loss": result["nats_per_token"], **result}

    def describe(self, scores: dict, short: bool = False) -> str:
        if short:
            return f"bpc {scores['bits_per_char']:.3f}"
        return f"{scores['bits_per_char']:.4f} bits/char ({scores['nats_per_char']:.4f} nats)"

    def sample(self, generator: torch.Generator) -> str:
        prime = torch.as_tensor(self.start_ids, device=self.device)[None]
        tokens = [int(t) for t in generate(self.model, prime, self.sample_length, generator=generator,
                                                  precision=self.precision)]
        return self.tokenizer.decode(tokens)

    def carried_state(self) -> dict:
        """The whole batch's state (every rank's streams, gathered): a resumed run may use
        another world size that divides the batch."""
        if self.state is None:
            return {"hidden": []}
        return {"hidden": list(map_state(self.world.gather_rows, self.state))}

    def load_carried_state(self, state: dict) -> None:
        hidden = state["hidden"]
        self.state = None if not hidden else tuple(
            tuple(t[self.rows].to(self.device) for t in s) if isinstance(s, tuple | list)
            else s[self.rows].to(self.device) for s in hidden)


def streams_of(world: distributed.World, batch_size: int) -> slice:
    """This rank's streams of the global batch; the batch must split evenly over the ranks."""
    if batch_size % world.size:
        fits = [b for b in (batch_size - batch_size % world.size, batch_size - batch_size % world.size
                            + world.size) if b > 0]
        raise UserError(f"--batch-size {batch_size} does not split over {world.size} processes: the global "
                        f"batch must be a multiple of {world.size} ({' or '.join(map(str, fits))})")
    return world.part(batch_size)
