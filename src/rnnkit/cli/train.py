"""``rnnkit train``: build the task's config sections from the flags, then train or resume."""

from __future__ import annotations

import argparse
from pathlib import Path

from rnnkit.cli.parser import DEFAULT_MINUTES
from rnnkit.config import flag_name, overrides
from rnnkit.errors import UserError
from rnnkit.tasks import TASKS, task_named, task_of
from rnnkit.tasks.requests import Task, TrainRequest
from rnnkit.train.loop import TrainConfig

RESUMABLE_CHANGES = ("steps", "minutes", "patience", "eval_every")


def check_flags(task: Task, args: argparse.Namespace) -> None:
    """A flag that belongs to other tasks only is refused, naming them: it would otherwise be ignored."""
    given = {name for other in TASKS.values() for cls in other.sections.values() for name in overrides(cls, args)}
    foreign = sorted(given - task.field_names())
    if foreign:
        owners = [other.name for other in TASKS.values() if foreign[0] in other.field_names()]
        raise UserError(f"{flag_name(foreign[0])} is not a flag of --task {task.name}; it belongs to --task "
                        f"{' or '.join(owners)}")


def cmd_train(args: argparse.Namespace) -> int:
    if args.resume:
        return resume(args)
    task = task_named(args.task)
    check_flags(task, args)
    values = {}
    for cls in task.sections.values():
        values.update(overrides(cls, args))
    if task.timed and "steps" not in values and "minutes" not in values:
        values["minutes"] = DEFAULT_MINUTES
    request = TrainRequest(args.data, args.out, args.device, args.progress, task.build_sections(values),
                           set(values), use_cache=not args.no_cache)
    return task.train(request)


def resume(args: argparse.Namespace) -> int:
    """Continue a run of any task where it stopped; the task comes from the run itself."""
    if args.data:
        raise UserError("--resume continues a run on its own data; drop the data arguments")
    run = Path(args.resume)
    task = task_of(run)
    if task.resume is None:
        raise UserError(f"--resume {run}: a {task.name} run cannot resume; an n-gram model is counted in one "
                        "pass, train it again")
    changes = {k: v for k, v in overrides(TrainConfig, args).items() if k in RESUMABLE_CHANGES}
    return task.resume(run, changes, args.device, args.progress)


