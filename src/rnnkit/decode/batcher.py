"""Continuous batching for a language model: every client's stream stepped in one batch.

Each request is a stream with its own state, settings and generator. One thread
owns the model: between steps it admits waiting streams (reading each one's prime
alone, as ``rnnkit sample`` does) and drops finished or cancelled ones, so the batch
is always the streams in flight. A step costs about the same at 32 rows as at one,
which is why serving many clients this way beats queueing them. The rows never mix
(``decode.rows``): a stream's tokens are the ones it would get alone.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import threading
import time
from collections.abc import Callable

import torch
from torch import Tensor

from rnnkit.decode.rows import RowSampling, join_rows, rowwise_product, sample_rows, take_rows
from rnnkit.decode.sampling import SteppableModel, read_prime

DONE = None  # what a sink receives after a stream's last token
FLUSH_SECONDS = 0.01  # tokens wait at most this long to be handed over: well under what a reader sees


class QueueFull(Exception):
    """Every batch slot and every waiting place is taken: try again shortly."""


class Closed(Exception):
    """The batcher is shutting down and takes no new streams."""


@dataclasses.dataclass(eq=False)
class Stream:
    """One generation in flight. ``sink`` gets each token id, then ``DONE`` (or the exception
    that ended it); ``cancel`` frees its row at the next step. With ``loop`` set, ``sink`` is
    called in that event loop, every stream of a loop handed over in one call per step."""

    prime: list[int]
    length: int
    sampling: RowSampling
    seed: int
    sink: Callable[[int | BaseException | None], None]
    produced: int = 0
    cancelled: bool = False
    generator: torch.Generator | None = None
    loop: asyncio.AbstractEventLoop | None = None

    def cancel(self) -> None:
        self.cancelled = True


Delivery = list[tuple[Stream, "int | BaseException | None"]]


def hand_over(delivery: Delivery) -> None:
    for stream, item in delivery:
        stream.sink(item)


def deliver(delivery: Delivery) -> None:
    """Each item to its stream's sink: directly, or through the stream's event loop, one call per loop."""
    by_loop: dict[asyncio.AbstractEventLoop, Delivery] = {}
    for stream, item in delivery:
        if stream.loop is None:
            stream.sink(item)
        else:
            by_loop.setdefault(stream.loop, []).append((stream, item))
    for loop, items in by_loop.items():
        try:
            loop.call_soon_threadsafe(hand_over, items)
        except RuntimeError:  # the loop is closed: nobody is listening any more
            for stream, _ in items:
                stream.cancel()


class Batcher:
    """Admits streams into one running batch over ``model``; ``max_batch`` rows step at once
    and up to ``max_waiting`` more wait for a row. Tokens are handed over by ``deliver``, in
    one call per event loop, every ``FLUSH_SECONDS`` at most."""

    def __init__(self, model: SteppableModel, device: torch.device, precision: str = "fp32",
                 max_batch: int = 32, max_waiting: int = 64) -> None:
        self.model, self.device, self.precision = model, device, precision
        dtype = torch.bfloat16 if precision == "bf16" else torch.float32
        self.stepper = model.make_stepper(dtype, rowwise_product)
        self.max_batch, self.max_waiting = max_batch, max_waiting
        self.waiting: collections.deque[Stream] = collections.deque()
        self.active: list[Stream] = []
        self.logits: Tensor | None = None
        self.state = None
        self.closed = False
        self.pending: Delivery = []  # tokens produced since the last hand-over
        self.last_flush = time.monotonic()
        self.wake = threading.Condition()
        self.thread = threading.Thread(target=self._run, name="rnnkit-batcher", daemon=True)
        self.thread.start()

    def submit(self, streams: list[Stream]) -> None:
        """Queue ``streams`` (one request's samples) together, or refuse them all."""
        with self.wake:
            if self.closed:
                raise Closed("the server is shutting down")
            free = self.max_batch + self.max_waiting - len(self.active) - len(self.waiting)
            if len(streams) > free:
                raise QueueFull(f"{len(self.active)} streams running and {len(self.waiting)} waiting")
            self.waiting.extend(streams)
            self.wake.notify()

    def load(self) -> dict:
        with self.wake:
            return {"running": len(self.active), "waiting": len(self.waiting), "max_batch": self.max_batch}

    def close(self, timeout: float = 10.0) -> None:
        """Finish the streams in flight (bounded by ``timeout``), refuse new ones, stop the thread."""
        with self.wake:
            self.closed = True
            self.wake.notify()
        self.thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self.wake:
                while not self.waiting and not self.active and not self.closed:
                    self.wake.wait()
                if self.closed and not self.waiting and not self.active:
                    return
                room = self.max_batch - len(self.active)
                admitted = [self.waiting.popleft() for _ in range(min(room, len(self.waiting)))]
            try:
                self._admit([stream for stream in admitted if not stream.cancelled])
                if self.active:
                    self._step()
            except Exception as error:  # a model failure ends the streams in flight, not the server
                self._flush(force=True)
                deliver([(stream, error) for stream in dict.fromkeys(self.active + admitted)])
                self.active, self.logits, self.state = [], None, None

    def _flush(self, force: bool = False) -> None:
        """Hand the pending tokens over every ``FLUSH_SECONDS`` (at once for a first token or a stream's
        end): a busy batch's clients then get a few tokens per event instead of one, which keeps the
        server's event loop from being the bottleneck."""
        now = time.monotonic()
        if self.pending and (force or now - self.last_flush >= FLUSH_SECONDS):
            deliver(self.pending)
            self.pending, self.last_flush = [], now

    @torch.no_grad()
    def _admit(self, streams: list[Stream]) -> None:
        """Read each new stream's prime alone (as ``rnnkit sample`` does), then join them all to the batch."""
        if not streams:
            return
        logits, states = [] if self.logits is None else [self.logits], [] if self.state is None else [self.state]
        for stream in streams:
            stream.generator = torch.Generator(device=self.device).manual_seed(stream.seed)
            prime = torch.as_tensor(stream.prime, device=self.device)[None]
            stream_logits, state = read_prime(self.model, prime, self.precision)
            logits.append(stream_logits)
            states.append(state)
        self.logits, self.state = torch.cat(logits), join_rows(states)
        self.active.extend(streams)

    @torch.no_grad()
    def _step(self) -> None:
        tokens = sample_rows(self.logits, [s.sampling for s in self.active], [s.generator for s in self.active])
        keep, delivery = [], []
        for row, (stream, token) in enumerate(zip(self.active, tokens.tolist(), strict=True)):
            if stream.cancelled:
                continue
            stream.produced += 1
            delivery.append((stream, token))
            if stream.produced < stream.length:
                keep.append(row)
            else:
                delivery.append((stream, DONE))
        self.pending.extend(delivery)
        self._flush(force=len(keep) < len(self.active) or any(s.produced == 1 for s, _ in delivery))
        if len(keep) < len(self.active):
            self.active = [self.active[row] for row in keep]
            if not keep:
                self.logits, self.state = None, None
                return
            index = torch.as_tensor(keep, device=self.device)
            tokens, self.state = tokens[index], take_rows(self.state, index)
        self.logits, self.state = self.stepper.step(tokens, self.state)
