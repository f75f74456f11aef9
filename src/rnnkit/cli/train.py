"""``rnnkit train``: build the task's config sections from the flags, then train or resume."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rnnkit.cli.parser import DEFAULT_MINUTES
from rnnkit.config import overrides
from rnnkit.errors import UserError
from rnnkit.tasks import task_named, task_of
from rnnkit.tasks.requests import TrainRequest
from rnnkit.train.loop import TrainConfig

RESUMABLE_CHANGES = ("steps", "minutes", "patience", "eval_every")


def chosen_task(args: argparse.Namespace) -> str:
    """``--task``, except that the old spelling of a line model (``--unit line`` or ``--condition-on
    label`` on the language model) still means the lines task, with a note."""
    if args.task == "lm" and (args.unit == "line" or args.condition_on == "label"):
        print("note: a language model over whole lines is its own task now; use --task lines", file=sys.stderr)
        return "lines"
    return args.task


def cmd_train(args: argparse.Namespace) -> int:
    if args.resume:
        return resume(args)
    task = task_named(chosen_task(args))
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


