"""The line model's commands: train, resume, sample whole lines (with a novelty report) and eval."""

from __future__ import annotations

import json
from pathlib import Path

from rnnkit.errors import UserError
from rnnkit.tasks.requests import EvalRequest, SampleRequest, Sampling, TrainRequest


def train(request: TrainRequest) -> int:
    from rnnkit.tasks.lines import run as line_run

    s = request.sections
    run, final = line_run.train(request.data, s["model"], s["line"], s["train"], s["data"], s["labelled"],
                                request.out, request.device, request.progress, given=request.given)
    return summary(run, final, request.device)


def summary(run: Path, final: dict, device: str) -> int:
    from rnnkit.tasks.lines import run as line_run

    loaded = line_run.load(run, device)
    print(f"\nstep {final['step']}: validation {final['nats_per_token']:.4f} nats per token, end of line included "
          f"({final['bits_per_char']:.3f} bits per character); the best, {final['best_objective']:.4f}, is in "
          f"{run / 'model.safetensors'}; score it on the test split with: rnnkit eval {run}")
    for seed, label in enumerate(loaded.labels[:4] or [None]):
        lines = line_run.sample(loaded, 5, label, Sampling(length=100, seed=seed))
        print(f"samples{f' ({label})' if label else ''}: " + ", ".join(lines))
    return 0


def sample(request: SampleRequest) -> int:
    from rnnkit.tasks.lines import run as line_run

    if request.beam:
        raise UserError(f"--beam searches continuations of a stream of text; {request.run} draws whole lines: "
                        "drop --beam")
    loaded = line_run.load(request.run, request.device)
    lines = line_run.sample(loaded, request.num, request.label, request)
    report = None
    if request.novelty:
        report = line_run.novelty(loaded, lines, line_run.read_lines(loaded, request.novelty, "utf-8"))
    if request.json:
        print(json.dumps({"samples": lines, **({"novelty": report} if report else {})}, ensure_ascii=False))
        return 0
    if report:
        print(f"{report['samples']:,} samples: {report['in_training']:.1%} are training lines, "
              f"{report['in_held_out']:.1%} are held-out lines of {', '.join(request.novelty)}, "
              f"{report['new']:.1%} are new")
    else:
        print("\n".join(lines))
    return 0


def evaluate(request: EvalRequest) -> int:
    from rnnkit.tasks.lines import run as line_run
    from rnnkit.tasks.runs import read_split

    loaded = line_run.load(request.run, request.device)
    if request.data:
        examples, what = line_run.read_lines(loaded, request.data, request.encoding), ", ".join(request.data)
    else:
        examples, what = read_split(request.run, "test"), "the run's test split"
    result = line_run.evaluate(loaded, examples, what, request.precision)
    if request.json:
        print(json.dumps(result.to_dict()))
        return 0
    print(f"{what}: {result.lines:,} lines, {result.tokens:,} tokens with the ends of lines\n"
          f"nats per token      {result.nats_per_token:.4f}  (perplexity {result.perplexity:.3f})\n"
          f"bits per character  {result.bits_per_char:.4f}  (a newline per line)")
    return 0
