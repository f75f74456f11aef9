"""The ``rnnkit`` command: subcommands as glue over the task modules.

Every expected failure is a ``UserError``: printed as one line naming the file
and the fix, exit code 2, no traceback.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from rnnkit import __version__
from rnnkit.config import add_arguments, from_args, overrides
from rnnkit.errors import UserError
from rnnkit.tasks.language_model import CELL_LEARNING_RATE, ModelConfig
from rnnkit.tasks.lm_task import DataConfig
from rnnkit.tasks.ngram_run import NGramConfig
from rnnkit.train.loop import Interrupted, TrainConfig

DEFAULT_MINUTES = 5.0
# Past this budget the default model starts to overfit Tiny Shakespeare-sized texts
# (docs/tuning.md), so unless --dropout is given, longer runs get LONG_RUN_DROPOUT.
LONG_RUN_MINUTES, LONG_RUN_DROPOUT = 5.0, 0.25


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rnnkit", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--version", action="version", version=f"rnnkit {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = commands.add_parser("train", help="train a model on text files, folders or a built-in corpus",
                                description="Train a model. Budget with --minutes or --steps "
                                f"(neither: --minutes {DEFAULT_MINUTES:g}).")
    train.add_argument("data", nargs="*", help="text files, folders, or a built-in corpus name "
                       "(see `rnnkit corpora`)")
    train.add_argument("--task", default="lm", choices=TASKS,
                       help="what to learn: lm, a recurrent language model; ngram, a count-based one (default: lm)")
    train.add_argument("--out", help="run directory to create (default: runs/NAME)")
    train.add_argument("--resume", metavar="RUN", help="continue RUN exactly where it stopped; "
                       "--steps/--minutes/--patience/--eval-every may be changed")
    train.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="(default: auto)")
    train.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                       help="show a progress bar (default: when stderr is a terminal)")
    add_arguments(train, ModelConfig, defaults_to_none=True)
    add_arguments(train, TrainConfig, defaults_to_none=True)
    add_arguments(train, DataConfig, defaults_to_none=True)
    add_arguments(train, NGramConfig, defaults_to_none=True)

    sample = commands.add_parser("sample", help="generate text from a trained run",
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    sample.add_argument("run", type=Path, help="run directory")
    sample.add_argument("--prime", default="", help="text to start from (the model reads it first)")
    sample.add_argument("--length", type=int, default=500, help="tokens to generate")
    sample.add_argument("--temperature", type=float, default=1.0, help="0 is argmax; below 1 is safer")
    sample.add_argument("--top-k", type=int, default=0, help="sample among the k likeliest (0: all)")
    sample.add_argument("--top-p", type=float, default=1.0, help="nucleus: the smallest set with this mass")
    sample.add_argument("--seed", type=int, default=0, help="same seed, same text")
    sample.add_argument("--num", type=int, default=1, help="number of samples")
    sample.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))

    evaluate = commands.add_parser("eval", help="bits per character and perplexity of a run on a text",
                                   formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    evaluate.add_argument("run", type=Path, help="run directory")
    evaluate.add_argument("data", nargs="+", help="text files, folders or a built-in corpus to score")
    evaluate.add_argument("--encoding", default="utf-8", help="text encoding of the files")
    evaluate.add_argument("--streams", type=int, default=16, help="parallel streams (each starts from zero)")
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")
    evaluate.add_argument("--precision", default="fp32", choices=("fp32", "bf16", "auto"),
                          help="arithmetic for the forward pass")
    evaluate.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))

    commands.add_parser("corpora", help="list the built-in corpora and their sizes")

    experiment = commands.add_parser("experiment", help="reproduce a classic result: vanishing, memory, "
                                     "clipping, depth, cells, ngram-vs-rnn",
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    experiment.add_argument("name", choices=("vanishing", "memory", "clipping", "depth", "cells", "ngram-vs-rnn"))
    experiment.add_argument("data", nargs="*", default=["python-stdlib"], help="text for the language-model ones")
    experiment.add_argument("--quick", action="store_true", help="a small, fast version")
    experiment.add_argument("--out", type=Path, default=Path("experiments"), help="folder for NAME.json and NAME.png")
    experiment.add_argument("--minutes", type=float, help="ngram-vs-rnn: the RNN's training time "
                            "(default: 5, --quick 0.15)")
    return parser


def cmd_train(args: argparse.Namespace) -> int:
    from rnnkit.tasks import lm_run

    if args.task == "ngram":
        return train_ngram(args)
    if args.resume:
        if args.data:
            raise UserError("--resume continues a run on its own data; drop the data arguments")
        changes = {k: v for k, v in overrides(TrainConfig, args).items()
                   if k in ("steps", "minutes", "patience", "eval_every")}
        run, final = lm_run.resume(Path(args.resume), changes, args.device, args.progress)
    else:
        if args.steps is None and args.minutes is None:
            args.minutes = DEFAULT_MINUTES
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
            run, final = lm_run.train(args.data, model, train_config, data, args.out, args.device,
                                      args.progress)
    loaded = lm_run.load_run(run, args.device)
    print(f"\nstep {final['step']}: validation {final['bits_per_char']:.3f} bits per character "
          f"({final['nats_per_char']:.3f} nats); best weights in {run / 'model.safetensors'}")
    print("sample:\n" + "".join(lm_run.sample(loaded, "", 400, 0.8, 0, 1.0, 0)))
    return 0


def train_ngram(args: argparse.Namespace) -> int:
    from rnnkit.tasks import ngram_run

    if args.resume:
        raise UserError("--resume: an n-gram model is counted in one pass; train it again instead")
    run, result = ngram_run.train(args.data, from_args(NGramConfig, args), from_args(DataConfig, args), args.out)
    print(f"validation {result['bits_per_char']:.3f} bits per character ({result['nats_per_char']:.3f} nats), "
          f"perplexity {result['perplexity']:.3f} per token; model in {run / ngram_run.MODEL_FILE}")
    loaded = ngram_run.load(run)
    print("sample:\n" + "".join(ngram_run.sample(loaded, "", 400, 0.8, 0, 1.0, 0)))
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    from rnnkit.tasks import lm_run, ngram_run

    if ngram_run.is_ngram_run(args.run):
        loaded, sample = ngram_run.load(args.run), ngram_run.sample
    else:
        loaded, sample = lm_run.load_run(args.run, args.device), lm_run.sample
    for index in range(args.num):
        if args.num > 1:
            print(f"--- sample {index + 1} ---")
        for piece in sample(loaded, args.prime, args.length, args.temperature, args.top_k,
                            args.top_p, args.seed + index):
            sys.stdout.write(piece)
            sys.stdout.flush()
        print()
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from rnnkit.tasks import lm_run, ngram_run

    if ngram_run.is_ngram_run(args.run):
        loaded = ngram_run.load(args.run)
        result = ngram_run.evaluate(loaded, args.data, args.encoding)
    else:
        loaded = lm_run.load_run(args.run, args.device)
        result = lm_run.evaluate(loaded, args.data, args.encoding, args.streams, loaded.config["data"]["seq_len"],
                                 args.precision)
    data = loaded.config["data"]
    if args.json:  # an MLE model's infinite perplexity is written as null: JSON has no infinity
        print(json.dumps({k: v if not isinstance(v, float) or math.isfinite(v) else None
                          for k, v in result.items()}))
        return 0
    print(f"{', '.join(args.data)}: {result['tokens']:,} tokens, {result['characters']:,} characters")
    print(f"bits per character  {result['bits_per_char']:.4f}  ({result['nats_per_char']:.4f} nats)")
    print(f"perplexity          {result['perplexity']:.3f} per token")
    if data["tokenizer"] != "char":
        print(f"                    {result['char_perplexity']:.3f} per character")
    if result["unknown_tokens"]:
        print(f"unknown tokens      {result['unknown_tokens']:,} (scored as <unk>)")
    return 0


def cmd_corpora(args: argparse.Namespace) -> int:
    from rnnkit.data.corpora import BUILTIN_CORPORA, DEFAULT_BUILTIN_CHARS, read_builtin

    for name, (description, _) in BUILTIN_CORPORA.items():
        size = len(read_builtin(name, None))
        print(f"{name}  {size:,} characters available, {min(size, DEFAULT_BUILTIN_CHARS):,} used by "
              f"default (--max-chars)\n    {description}")
    return 0


def cmd_experiment(args: argparse.Namespace) -> int:
    from rnnkit.experiments import EXPERIMENTS, TIMED

    if args.minutes is not None and args.name not in TIMED:
        raise UserError(f"--minutes applies to {', '.join(TIMED)}, not {args.name}")
    options = {"minutes": args.minutes} if args.minutes is not None else {}
    EXPERIMENTS[args.name](args.data, args.out, args.quick, **options)
    return 0


TASKS = ("lm", "ngram")
COMMANDS = {"train": cmd_train, "sample": cmd_sample, "eval": cmd_eval, "corpora": cmd_corpora,
            "experiment": cmd_experiment}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except UserError as err:
        print(f"rnnkit: error: {err}", file=sys.stderr)
        return 2
    except Interrupted as err:
        print(f"rnnkit: {err}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("rnnkit: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
