"""``rnnkit train``: pick the task, fill in its defaults, train or resume, print where it ended."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rnnkit.cli.forecast import report_forecaster, train_forecaster
from rnnkit.cli.parser import DEFAULT_MINUTES
from rnnkit.cli.translate import report_translator, train_translator
from rnnkit.config import from_args, overrides
from rnnkit.data.labelled import LabelledConfig
from rnnkit.errors import UserError
from rnnkit.tasks.classifier import ClassifierConfig
from rnnkit.tasks.language_model import CELL_LEARNING_RATE, ModelConfig
from rnnkit.tasks.line_model import LineConfig
from rnnkit.tasks.lm_task import DataConfig
from rnnkit.tasks.ngram_run import NGramConfig
from rnnkit.train.loop import TrainConfig

# Past this budget the default model starts to overfit Tiny Shakespeare-sized texts
# (docs/tuning.md), so unless --dropout is given, longer runs get LONG_RUN_DROPOUT.
LONG_RUN_MINUTES, LONG_RUN_DROPOUT = 5.0, 0.25
# Where a task's best settings differ from the language model's (measured in the README's sections).
# bf16's parity with fp32 was measured for language models; the other tasks keep fp32 unless asked.
TASK_DEFAULTS = {
    "classify": {"precision": "fp32", "hidden_size": 256, "embedding_size": 64, "dropout": 0.3,
                 "batch_size": 64, "lr": 3e-3, "eval_every": 100, "warmup_steps": 50, "patience": 20},
    "lines": {"precision": "fp32", "hidden_size": 256, "embedding_size": 64, "dropout": 0.2, "batch_size": 64,
              "lr": 3e-3, "eval_every": 200, "patience": 20},
    "forecast": {"precision": "fp32", "hidden_size": 64, "batch_size": 64, "lr": 3e-3, "eval_every": 100,
                 "patience": 20, "warmup_steps": 50},
    "translate": {"precision": "fp32", "cell": "gru", "hidden_size": 256, "embedding_size": 256, "dropout": 0.2,
                  "batch_size": 64, "lr": 2e-3, "eval_every": 500, "patience": 10, "tokenizer": "word",
                  "vocab_size": 15000},
}


def cmd_train(args: argparse.Namespace) -> int:
    if args.resume:
        return resume(args)
    if args.task == "lm" and (args.unit == "line" or args.condition_on == "label"):
        return train_lines(args)
    if args.steps is None and args.minutes is None and args.task != "ngram":
        args.minutes = DEFAULT_MINUTES
    for name, value in TASK_DEFAULTS.get(args.task, {}).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    trainers = {"lm": train_lm, "ngram": train_ngram, "classify": train_classifier, "forecast": train_forecaster,
                "translate": train_translator}
    return trainers[args.task](args)


def resume(args: argparse.Namespace) -> int:
    """Continue a run of any task where it stopped; the task comes from the run itself."""
    from rnnkit.tasks import classify_run, forecast_run, line_run, lm_run, translate_run
    from rnnkit.train.checkpoint import read_config

    if args.data:
        raise UserError("--resume continues a run on its own data; drop the data arguments")
    run = Path(args.resume)
    task = read_config(run).get("task")
    modules = {"lm": (lm_run, report_lm), "classify": (classify_run, report_classifier),
               "lines": (line_run, report_lines), "forecast": (forecast_run, report_forecaster),
               "translate": (translate_run, report_translator)}
    if task not in modules:
        raise UserError(f"--resume {run}: a {task!r} run cannot resume; an n-gram model is counted in one "
                        "pass, train it again")
    module, report = modules[task]
    changes = {k: v for k, v in overrides(TrainConfig, args).items()
               if k in ("steps", "minutes", "patience", "eval_every")}
    run, final = module.resume(run, changes, args.device, args.progress)
    return report(run, final, args.device)


def train_lm(args: argparse.Namespace) -> int:
    from rnnkit.tasks import lm_run

    if args.lr is None and args.cell in CELL_LEARNING_RATE and args.backend != "numpy":
        args.lr = CELL_LEARNING_RATE[args.cell]
        print(f"--cell {args.cell}: --lr {args.lr:g} (pass --lr to choose)", file=sys.stderr)
    if args.dropout is None and (args.minutes or 0) > LONG_RUN_MINUTES:
        args.dropout = LONG_RUN_DROPOUT
        print(f"a budget over {LONG_RUN_MINUTES:g} minutes: --dropout {LONG_RUN_DROPOUT} "
              "(pass --dropout to choose)", file=sys.stderr)
    model = from_args(ModelConfig, args)
    train_config = from_args(TrainConfig, args)
    data = from_args(DataConfig, args)
    if model.backend == "numpy":
        from rnnkit.tasks.numpy_lm import train_numpy

        run, final = train_numpy(args.data, model, train_config, data, args.out)
    else:
        run, final = lm_run.train(args.data, model, train_config, data, args.out, args.device, args.progress,
                                  use_cache=not args.no_cache)
    return report_lm(run, final, args.device)


def report_lm(run: Path, final: dict, device: str) -> int:
    from rnnkit.tasks import lm_run

    loaded = lm_run.load_run(run, device)
    print(f"\nstep {final['step']}: validation {final['bits_per_char']:.3f} bits per character "
          f"({final['nats_per_char']:.3f} nats); best weights in {run / 'model.safetensors'}")
    print("sample:\n" + "".join(lm_run.sample(loaded, "", 400, 0.8, 0, 1.0, 0)))
    return 0


def train_ngram(args: argparse.Namespace) -> int:
    from rnnkit.tasks import ngram_run

    run, result = ngram_run.train(args.data, from_args(NGramConfig, args), from_args(DataConfig, args), args.out)
    print(f"validation {result['bits_per_char']:.3f} bits per character ({result['nats_per_char']:.3f} nats), "
          f"perplexity {result['perplexity']:.3f} per token; model in {run / ngram_run.MODEL_FILE}")
    loaded = ngram_run.load(run)
    print("sample:\n" + "".join(ngram_run.sample(loaded, "", 400, 0.8, 0, 1.0, 0)))
    return 0


def train_classifier(args: argparse.Namespace) -> int:
    from rnnkit.tasks import classify_run

    run, final = classify_run.train(
        args.data, from_args(ModelConfig, args), from_args(ClassifierConfig, args), from_args(TrainConfig, args),
        from_args(DataConfig, args), from_args(LabelledConfig, args), args.out, args.device, args.progress)
    return report_classifier(run, final, args.device)


def report_classifier(run: Path, final: dict, device: str) -> int:
    from rnnkit.eval.classification import format_report
    from rnnkit.tasks import classify_run

    print(f"\nstep {final['step']}: validation accuracy {final['accuracy']:.4f}, macro-F1 {final['macro_f1']:.4f}; "
          f"best weights in {run / 'model.safetensors'}")
    if "test" in final:
        print(f"test split:\n{format_report(final['test'])}\nconfusion matrix: {run / classify_run.CONFUSION_FILE}")
    return 0


def train_lines(args: argparse.Namespace) -> int:
    from rnnkit.tasks import line_run

    if args.steps is None and args.minutes is None:
        args.minutes = DEFAULT_MINUTES
    for name, value in TASK_DEFAULTS["lines"].items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    run, final = line_run.train(
        args.data, from_args(ModelConfig, args), from_args(LineConfig, args), from_args(TrainConfig, args),
        from_args(DataConfig, args), from_args(LabelledConfig, args), args.out, args.device, args.progress)
    return report_lines(run, final, args.device)


def report_lines(run: Path, final: dict, device: str) -> int:
    from rnnkit.tasks import line_run

    loaded = line_run.load_lines(run, device)
    print(f"\nstep {final['step']}: validation {final['nats_per_token']:.4f} nats per token, end of line included "
          f"({final['bits_per_char']:.3f} bits per character); the best, {final['best_objective']:.4f}, is in "
          f"{run / 'model.safetensors'}; score it on the test split with: rnnkit eval {run}")
    for seed, label in enumerate(loaded.labels[:4] or [None]):
        lines = line_run.sample(loaded, 5, label, "", 100, 1.0, 0, 1.0, seed)
        print(f"samples{f' ({label})' if label else ''}: " + ", ".join(lines))
    return 0
