"""The typed requests a task's commands take, built from flags (or, next, from HTTP bodies).

Every field has the default the command line shows, so a caller in Python fills
only what it changes: ``SampleRequest(run, length=200, seed=1)``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from rnnkit.errors import UserError

VERBS = ("sample", "predict", "eval", "viz")


@dataclasses.dataclass
class TrainRequest:
    """A new run: the data, where it goes, the device, and each config section already built."""

    data: list[str]
    out: str | None
    device: str
    progress: bool | None
    sections: dict[str, Any]
    given: set[str]          # the fields the user set, for defaults that depend on others (the budget)
    use_cache: bool = True


@dataclasses.dataclass
class Sampling:
    """How to draw text: where it starts, how long, how boldly; the same seed draws the same text."""

    prime: str = ""
    length: int = 500       # tokens (a line model: at most, per line)
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    seed: int = 0


@dataclasses.dataclass
class SampleRequest(Sampling):
    run: Path = Path()
    num: int = 1
    precision: str = "auto"
    device: str = "auto"
    label: str | None = None
    novelty: list[str] | None = None
    json: bool = False
    beam: int = 0            # above 0: the likeliest continuations by beam search, not samples
    n_best: int = 1
    diverse: int = 1         # beam groups (diverse beam search)
    diversity: float = 1.0   # nats off a group's candidate per earlier group that took its token
    runtime: str = "torch"   # language models: torch or onnx (ONNX Runtime)
    quantize: str = "none"   # language models: none or int8


@dataclasses.dataclass
class Decoding:
    """Search settings for translators and captioners, as given on the command line."""

    beam: int = 1
    alpha: float | None = None  # None: a translator's tuned length penalty for a beam, else 0
    n_best: int = 1
    max_length: int = 0

    def check(self) -> None:
        if self.beam < 1 or self.n_best < 1 or self.n_best > self.beam or self.max_length < 0:
            raise UserError("--beam needs 1 or more, --n-best between 1 and --beam, --max-length 0 or more")


@dataclasses.dataclass
class PredictRequest(Decoding):
    run: Path = Path()
    texts: list[str] = dataclasses.field(default_factory=list)
    file: Path | None = None
    top_k: int = 3
    json: bool = False
    data: str | None = None
    steps: int = 1
    stream: bool = False
    show_attention: Path | None = None
    device: str = "auto"


@dataclasses.dataclass
class EvalRequest(Decoding):
    run: Path = Path()
    data: list[str] = dataclasses.field(default_factory=list)
    confusion: Path | None = None
    plot: Path | None = None
    encoding: str = "utf-8"
    streams: int = 16
    json: bool = False
    source: str | None = None
    target: str | None = None
    precision: str = "fp32"
    device: str = "auto"
    runtime: str = "torch"
    quantize: str = "none"


@dataclasses.dataclass
class VizRequest:
    run: Path
    data: list[str]
    out: Path | None = None
    find: bool = False
    top: int = 3
    max_chars: int = 100_000
    max_neurons: int = 0
    encoding: str = "utf-8"
    progress: bool | None = None
    device: str = "auto"
