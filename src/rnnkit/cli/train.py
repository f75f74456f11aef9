"""``rnnkit train TASK`` and ``rnnkit resume RUN``; the older spellings, rewritten with a note.

``rnnkit train --task X ...`` and ``rnnkit train DATA ...`` (a language model) were the
only forms before 0.3; they keep working for one release and say what to type instead.
``rnnkit train --resume RUN`` is the same command as ``rnnkit resume RUN``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rnnkit.cli.launch import as_rank, launch
from rnnkit.config import flag_name, overrides
from rnnkit.errors import UserError
from rnnkit.tasks import TASKS, task_named, task_of
from rnnkit.tasks.requests import TrainRequest
from rnnkit.tasks.runs import restarted_here
from rnnkit.train import distributed, generations
from rnnkit.train.config import TrainConfig

RESUMABLE_CHANGES = ("steps", "minutes", "patience", "eval_every")
HELP = ("-h", "--help")


def modern_argv(argv: list[str]) -> list[str]:
    """The ``train`` arguments in today's form: ``train TASK ...`` or ``resume RUN ...``."""
    if not argv or argv[0] != "train" or (len(argv) > 1 and argv[1] in (*TASKS, *HELP)):
        return argv
    rest = argv[1:]
    if "--resume" in rest:
        at = rest.index("--resume")
        return ["resume", *rest[at + 1:at + 2], *rest[:at], *rest[at + 2:]]
    task = "lm"
    for at, word in enumerate(rest):
        if (word == "--task" and at + 1 < len(rest)) or word.startswith("--task="):
            task = word.split("=", 1)[1] if "=" in word else rest[at + 1]
            rest = rest[:at] + rest[at + (1 if "=" in word else 2):]
            break
    print(f"rnnkit: note: `rnnkit train {task} DATA...` is the command now; the form without the task "
          "(or with --task) goes in the next release", file=sys.stderr)
    return ["train", task, *rest]


def refuse_foreign(task_name: str, unknown: list[str]) -> None:
    """An unknown flag that another task has: say which, rather than argparse's bare refusal."""
    flags = [word.split("=")[0] for word in unknown if word.startswith("--")]
    for flag in flags:
        owners = [t.name for t in TASKS.values() if flag in {flag_name(n) for n in t.field_names()}]
        if owners:
            raise UserError(f"{flag} is not a flag of `rnnkit train {task_name}`; it belongs to "
                            f"{' and '.join(f'`rnnkit train {o}`' for o in owners)}")
    raise UserError(f"unrecognised arguments: {' '.join(unknown)} (see `rnnkit train {task_name} --help`)")


def cmd_train(args: argparse.Namespace) -> int:
    task = task_named(args.task)
    if getattr(args, "nproc", 1) > 1 and not distributed.launched():
        return launch(args.argv, args.nproc)
    distributed.join(getattr(args, "dist_backend", "auto"), args.device)
    if args.out and restarted_here(Path(args.out)) and generations.latest(Path(args.out)) is not None:
        # torchrun restarted the group: on from the last checkpoint
        return as_rank(lambda: task.resume(Path(args.out), {}, args.device, args.progress))
    request = train_request(args)
    return as_rank(lambda: task.train(request))


def train_request(args: argparse.Namespace) -> TrainRequest:
    """What ``rnnkit train TASK ...`` asks for: each section built from the flags given (benchmarks
    build theirs here too, so they train as the command does)."""
    task = task_named(args.task)
    values = {}
    for part in task.sections.values():
        values.update({k: v for k, v in overrides(part.config, args).items() if k in part.flags})
    return TrainRequest(args.data, args.out, args.device, args.progress, task.build_sections(values),
                        set(values), use_cache=not getattr(args, "no_cache", False))


def cmd_resume(args: argparse.Namespace) -> int:
    """Continue a run of any task where it stopped; the task comes from the run itself."""
    task = task_of(args.run)
    if task.resume is None:
        raise UserError(f"{args.run}: a {task.name} run cannot resume; an n-gram model is counted in one "
                        "pass, train it again")
    if args.nproc > 1 and not distributed.launched():
        return launch(args.argv, args.nproc)
    distributed.join(args.dist_backend, args.device)
    changes = {k: v for k, v in overrides(TrainConfig, args).items() if k in RESUMABLE_CHANGES}
    return as_rank(lambda: task.resume(args.run, changes, args.device, args.progress))
