"""What every task offers: the ``Task`` row of ``TASKS``, its config sections, and the loaded ``Run``.

A row names the config sections its training reads (each a dataclass carrying this
task's defaults, and the fields it offers as flags), how it trains, resumes, loads
and reports, and the verbs it supports. The command line builds a request from its
flags and hands it to the row; nothing else decides which code a task name runs.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from rnnkit.errors import UserError


def with_defaults(cls: type, choices: dict[str, tuple] | None = None, **defaults: Any) -> type:
    """A subclass of the dataclass ``cls`` whose fields have these defaults (and fewer choices), help
    texts kept, so a task's defaults are its dataclass's own and ``--help`` shows them."""
    known = {f.name: f for f in dataclasses.fields(cls)}
    choices = choices or {}
    unknown = (set(defaults) | set(choices)) - set(known)
    if unknown:
        raise TypeError(f"{cls.__name__} has no field {', '.join(sorted(unknown))}")
    changed = []
    for name in dict.fromkeys([*defaults, *choices]):
        metadata = {**known[name].metadata, **({"choices": choices[name]} if name in choices else {})}
        default = defaults.get(name, known[name].default)
        changed.append((name, known[name].type, dataclasses.field(default=default, metadata=metadata)))
    return dataclasses.make_dataclass(cls.__name__, changed, bases=(cls,))


@dataclasses.dataclass(frozen=True)
class Section:
    """One config section of a task: its dataclass (with the task's defaults) and the fields the task
    reads, which are its flags; the others keep their defaults and are saved as they are."""

    config: type
    flags: tuple[str, ...]

    def build(self, values: dict[str, Any]) -> Any:
        return self.config(**{name: values[name] for name in self.flags if name in values})


def section(cls: type, only: tuple[str, ...] = (), skip: tuple[str, ...] = (),
            choices: dict[str, tuple] | None = None, **defaults: Any) -> Section:
    """``cls`` as one of a task's sections: ``only`` or all but ``skip`` of its fields become flags."""
    names = tuple(f.name for f in dataclasses.fields(cls) if (not only or f.name in only) and f.name not in skip)
    if set(only) - set(names):
        raise TypeError(f"{cls.__name__} has no field {', '.join(sorted(set(only) - set(names)))}")
    return Section(with_defaults(cls, choices, **defaults) if defaults or choices else cls, names)


@dataclasses.dataclass
class Run:
    """A trained run as loaded, whatever its task: its directory and saved config. Each task's
    loaded run (model, tokenizers, labels) extends this."""

    run: Path
    config: dict

    @property
    def device(self) -> Any:
        return next(self.model.parameters()).device  # type: ignore[attr-defined]


class Served(Protocol):
    """What a task's HTTP handlers (``Task.serves``) are given: the loaded run and the server's
    settings for it (``serve.registry.ServedModel`` is the one implementation)."""

    name: str
    loaded: Any
    precision: str
    limits: Any
    lock: Any

    def shared(self, key: str, make: Callable[[], Any]) -> Any: ...


DAMAGE = (KeyError, TypeError, ValueError, AttributeError, IndexError, RuntimeError)


def loader(task: str, what: str) -> Callable[[Callable[..., Run]], Callable[..., Run]]:
    """A task's ``load``: refused in one line on another task's run, and on a damaged one.

    The loaders are tested on the runs rnnkit writes; what else they meet is a file changed by
    hand, by another tool or by a failing disk, and the user needs to hear which run it was."""
    def wrap(load: Callable[..., Run]) -> Callable[..., Run]:
        @functools.wraps(load)
        def guarded(run: Path, *args: Any, **kwargs: Any) -> Run:
            from rnnkit.train.checkpoint import read_config

            found = read_config(run).get("task")
            if found != task:
                raise UserError(f"{run}: a {found!r} run, not {what}")
            try:
                return load(run, *args, **kwargs)
            except UserError:
                raise
            except DAMAGE as err:
                reason = str(err).splitlines()[0][:120] if str(err) else err.__class__.__name__
                raise UserError(f"{run}: a damaged run ({reason}); restore its files or train it again") from None
        return guarded
    return wrap


def check_section_types(sections: dict[str, Section], config: dict, path: Path) -> None:
    """Each saved section a dict whose fields have their dataclass's types: a hand-edited
    ``config.json`` is refused naming the field, before any code trusts it."""
    for key, part in sections.items():
        saved = config.get(key, {})
        if not isinstance(saved, dict):
            raise UserError(f"{path}: `{key}` should be an object of settings; restore the file or train again")
        for field in dataclasses.fields(part.config):
            if field.name in saved and not _same_kind(saved[field.name], field.default):
                raise UserError(f"{path}: {key}.{field.name} is {saved[field.name]!r}, not a "
                                f"{type(field.default).__name__}; restore the file or train again")


def _same_kind(value: Any, default: Any) -> bool:
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(value, bool) and isinstance(default, bool)
    if isinstance(default, float):
        return isinstance(value, int | float)
    return isinstance(value, type(default))


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
    sections: dict[str, Section]                     # config section -> its dataclass, as saved in config.json
    train: Callable[[Any], int]                      # TrainRequest -> exit code
    load: Callable[[Path, str], Run]                 # run directory, device -> the loaded run
    timed: bool = True                               # trained to a budget (--minutes/--steps)
    times_backends: bool = False                     # --backend auto times the backends (so: --no-cache)
    resume: Resume | None = None
    verbs: dict[str, Callable[[Any], int]] = dataclasses.field(default_factory=dict)
    report_extras: Callable[[Path, Path], list] | None = None  # pictures a training report adds
    report_heading: str = "Attention"                # the heading they are shown under
    serves: dict[str, Callable[[Any, Any], Any]] = dataclasses.field(default_factory=dict)  # HTTP verb -> handler
    exports: Callable[[Any, Path], list[Path]] | None = None  # loaded run, folder -> the ONNX files written
    runtime: Callable[[Any, str, str], Any] | None = None  # loaded run, --runtime, --quantize -> the loaded run on it

    def verb(self, name: str, run: Path) -> Callable[[Any], int]:
        """The function behind ``rnnkit NAME RUN``, or a one-line error naming what this task offers."""
        if name not in self.verbs:
            offered = ", ".join(self.verbs) or "none"
            raise UserError(f"{run}: a {self.name} run has no `{name}` (it offers: {offered})")
        return self.verbs[name]

    def check_runtime(self, request: Any, run: Path) -> None:
        """``--runtime onnx`` or ``--quantize int8`` on a task that has only PyTorch: one line saying so."""
        if self.runtime is None and (getattr(request, "runtime", "torch") != "torch"
                                  or getattr(request, "quantize", "none") != "none"):
            raise UserError(f"{run}: --runtime and --quantize are for language models so far; a {self.name} "
                            "run runs on PyTorch")

    def field_names(self) -> set[str]:
        """Every config field this task reads: its flags."""
        return {name for part in self.sections.values() for name in part.flags}

    def build_sections(self, values: dict[str, Any]) -> dict[str, Any]:
        """Each section's dataclass from the user's values over this task's defaults. A step budget
        given alone is the whole budget: the default time limit is dropped."""
        if self.timed and "steps" in values and "minutes" not in values:
            values = {**values, "minutes": 0.0}
        return {key: part.build(values) for key, part in self.sections.items()}

    def default(self, name: str) -> Any:
        """This task's default for a config field (what ``--help`` shows)."""
        for part in self.sections.values():
            for field in dataclasses.fields(part.config):
                if field.name == name:
                    return field.default
        raise KeyError(name)
