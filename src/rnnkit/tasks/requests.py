"""What every task offers, and the typed requests its commands take.

A ``Task`` is one row of ``rnnkit.tasks.TASKS``: the config sections its training
reads (with the task's own defaults), how it trains, resumes and reports, and the
verbs it supports. The command line builds a request from its flags and hands it
to the row; nothing else decides which code a task name runs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
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
class SampleRequest:
    run: Path
    prime: str = ""
    length: int = 500
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    seed: int = 0
    num: int = 1
    precision: str = "auto"
    device: str = "auto"
    label: str | None = None
    novelty: list[str] | None = None
    json: bool = False


@dataclasses.dataclass
class Decoding:
    """Search settings for translators, as given on the command line."""

    beam: int = 1
    alpha: float = 0.0
    n_best: int = 1
    max_length: int = 0


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


Resume = Callable[[Path, dict, str, bool | None], int]


def resumed(resume: Callable, summary: Callable[[Path, dict, str], int]) -> Resume:
    """A ``Task.resume``: a run module's ``resume(run, changes, device, progress) -> (run, final)``,
    then the task's summary of where it ended."""
    def resume_and_report(run: Path, changes: dict, device: str, progress: bool | None) -> int:
        return summary(*resume(run, changes, device, progress), device)
    return resume_and_report


@dataclasses.dataclass(frozen=True)
class Task:
    """One task's row in ``TASKS``."""

    name: str
    summary: str
    sections: dict[str, type]                       # config section -> dataclass, as saved in config.json
    train: Callable[[TrainRequest], int]
    defaults: dict[str, Any] = dataclasses.field(default_factory=dict)  # where this task differs
    timed: bool = True                               # trained to a budget (--minutes/--steps)
    resume: Resume | None = None
    verbs: dict[str, Callable[[Any], int]] = dataclasses.field(default_factory=dict)
    report_extras: Callable[[Path, Path], list] | None = None  # pictures a training report adds

    def verb(self, name: str, run: Path) -> Callable[[Any], int]:
        """The function behind ``rnnkit NAME RUN``, or a one-line error naming what this task offers."""
        if name not in self.verbs:
            offered = ", ".join(self.verbs) or "none"
            raise UserError(f"{run}: a {self.name} run has no `{name}` (it offers: {offered})")
        return self.verbs[name]

    def field_names(self) -> set[str]:
        """Every config field this task's sections have: the flags it reads."""
        return {f.name for cls in self.sections.values() for f in dataclasses.fields(cls)}

    def build_sections(self, values: dict[str, Any]) -> dict[str, Any]:
        """Each section's dataclass from the user's values over this task's defaults."""
        chosen = {**self.defaults, **values}
        return {key: cls(**{f.name: chosen[f.name] for f in dataclasses.fields(cls) if f.name in chosen})
                for key, cls in self.sections.items()}


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
