"""Commands over a trained run (sample, predict, eval, report, viz), and corpora, cache, experiment.

Each command over a run asks the run's row in ``TASKS`` for its verb; none tests a task name.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rnnkit.config import from_args
from rnnkit.errors import UserError
from rnnkit.tasks import task_of
from rnnkit.tasks.requests import EvalRequest, PredictRequest, SampleRequest, VizRequest

REQUESTS = {"sample": SampleRequest, "predict": PredictRequest, "eval": EvalRequest, "viz": VizRequest}


def cmd_verb(args: argparse.Namespace) -> int:
    """``rnnkit sample|predict|eval|viz RUN ...``: the run's task does the work."""
    run = Path(args.run)
    task = task_of(run)
    verb = task.verb(args.command, run)
    request = from_args(REQUESTS[args.command], args)
    task.check_runtime(request, run)
    return verb(request)


def cmd_export(args: argparse.Namespace) -> int:
    """``rnnkit export RUN --format onnx``: what the run's row can export, or one line saying it cannot."""
    run = Path(args.run)
    task = task_of(run)
    if task.exports is None:
        raise UserError(f"{run}: a {task.name} run has no network to export (every task with a recurrent "
                        "model can be exported)")
    out = Path(args.out) if args.out else run / "onnx"
    for path in task.exports(task.load(run, "cpu"), out):
        print(f"{path}  {path.stat().st_size / 1e6:.2f} MB")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """``rnnkit serve RUN...``: imported only here, so the other commands never load the web stack."""
    from rnnkit.serve.server import cmd_serve as serve

    return serve(args)


def cmd_corpora(args: argparse.Namespace) -> int:
    from rnnkit.data.corpora import BUILTIN_CORPORA, DEFAULT_BUILTIN_CHARS, read_builtin

    for name, (description, _) in BUILTIN_CORPORA.items():
        size = len(read_builtin(name, None))
        print(f"{name}  {size:,} characters available, {min(size, DEFAULT_BUILTIN_CHARS):,} used by "
              f"default (--max-chars)\n    {description}")
    return 0


def cmd_cache(args: argparse.Namespace) -> int:
    from rnnkit.decode.way_cache import clear_ways, describe_ways, ways_path
    from rnnkit.nn.backends import cache_path, clear_cache, describe_cache

    if args.action == "clear":
        print(f"{cache_path()}: cleared {clear_cache()} timed shapes")
        print(f"{ways_path()}: cleared {clear_ways()} product ways")
        return 0
    lines = describe_cache() + describe_ways()
    print("\n".join(lines) if lines else f"{cache_path()}: no timings yet (`--backend auto` writes them)")
    return 0


def cmd_experiment(args: argparse.Namespace) -> int:
    from rnnkit.experiments import EXPERIMENTS, TIMED

    if args.minutes is not None and args.name not in TIMED:
        raise UserError(f"--minutes applies to {', '.join(TIMED)}, not {args.name}")
    options = {"minutes": args.minutes} if args.minutes is not None else {}
    if args.name == "translation":
        if not args.data:
            raise UserError("experiment translation: pass a TSV of sentence pairs (for example eng-fra.txt with "
                            "--reverse-pairs for French to English)")
        options["reverse_pairs"] = args.reverse_pairs
    elif args.reverse_pairs:
        raise UserError("--reverse-pairs applies to the translation experiment only")
    EXPERIMENTS[args.name](args.data or ["python-stdlib"], args.out, args.quick, **options)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from rnnkit.viz.report import write_report

    task = task_of(args.run)  # a clear error unless this is a run
    if not (args.run / "metrics.jsonl").exists():
        raise UserError(f"{args.run}: no metrics.jsonl, so nothing to report (an n-gram model is counted, not "
                        "trained); report a run of rnnkit train's recurrent tasks")
    out = args.out or args.run / "report.html"
    attention = task.report_extras(args.run, out.parent) if task.report_extras else None
    written = write_report(args.run, out, out.parent, attention, task.report_heading)
    print(f"{written['html']}: {written['evaluations']} validations, {written['samples']} samples; "
          f"{len(written['pngs'])} PNGs beside it")
    return 0
