"""The command line's flags: one parser, built from the config dataclasses."""

from __future__ import annotations

import argparse
from pathlib import Path

from rnnkit import __version__
from rnnkit.config import add_arguments
from rnnkit.tasks import TASKS
from rnnkit.tasks.interface import Task


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rnnkit", description="Recurrent neural networks: train, sample, "
                                     "predict, evaluate.", formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--version", action="version", version=f"rnnkit {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (_add_train, _add_sample, _add_predict, _add_eval, _add_report_and_viz, _add_serve, _add_export,
                _add_others):
        add(commands)
    return parser


def _add_train(commands) -> None:
    train = commands.add_parser("train", help="train a model: `rnnkit train TASK DATA...` (see `rnnkit train "
                                "TASK --help`)", description="Train a model for one task; each task has its own "
                                "flags (`rnnkit train TASK --help`). Continue a stopped run with `rnnkit resume RUN`.")
    tasks = train.add_subparsers(dest="task", required=True, metavar="TASK")
    for task in TASKS.values():
        _add_task(tasks, task)
    resume = commands.add_parser("resume", help="continue a stopped run exactly where it stopped",
                                 description="Continue RUN from its last checkpoint, bit for bit as if it had "
                                 "not stopped; the budget and the validation schedule may change.")
    resume.add_argument("run", type=Path, help="run directory")
    for flag, kind, text in (("--steps", int, "a new step budget (total, counted from step 0)"),
                             ("--minutes", float, "a new time budget (total training time)"),
                             ("--patience", int, "validations without improvement before stopping"),
                             ("--eval-every", int, "steps between validations")):
        resume.add_argument(flag, type=kind, help=text)
    _add_device_and_progress(resume)
    _add_distributed(resume)


def _add_task(tasks, task: Task) -> None:
    """``rnnkit train TASK``: the flags of this task's config sections only, with its defaults."""
    sub = tasks.add_parser(task.name, help=task.summary, description=f"Train {task.summary}."
                           + (" Budget with --minutes or --steps." if task.timed else ""))
    sub.add_argument("data", nargs="*", help="text files, folders, or a built-in corpus name "
                     "(see `rnnkit corpora`)")
    sub.add_argument("--out", help="run directory to create (default: runs/NAME)")
    _add_device_and_progress(sub)
    if task.resume is not None:
        _add_distributed(sub)
    if task.times_backends:
        sub.add_argument("--no-cache", action="store_true", help="--backend auto: time the backends again and "
                         "leave the cache untouched (see `rnnkit cache show`)")
    for part in task.sections.values():
        add_arguments(sub, part.config, defaults_to_none=True, only=part.flags)


def _add_distributed(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--nproc", type=int, default=1, metavar="N", help="data-parallel on N processes of this "
                        "machine (started through torchrun; for several machines run torchrun yourself)")
    parser.add_argument("--dist-backend", default="auto", choices=("auto", "gloo", "nccl"),
                        help="under torchrun or --nproc: nccl on CUDA, gloo on CPU (default: auto)")


def _add_device_and_progress(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="(default: auto)")
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                        help="show a progress bar (default: when stderr is a terminal)")


def _add_sample(commands) -> None:
    sample = commands.add_parser("sample", help="generate text from a trained run",
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    sample.add_argument("run", type=Path, help="run directory")
    sample.add_argument("--prime", default="", help="text to start from (the model reads it first)")
    sample.add_argument("--length", type=int, default=500, help="tokens to generate (line models: at most, "
                        "per line)")
    sample.add_argument("--temperature", type=float, default=1.0, help="0 is argmax; below 1 is safer")
    sample.add_argument("--top-k", type=int, default=0, help="sample among the k likeliest (0: all)")
    sample.add_argument("--top-p", type=float, default=1.0, help="nucleus: the smallest set with this mass")
    sample.add_argument("--seed", type=int, default=0, help="same seed, same text")
    sample.add_argument("--num", type=int, default=1, help="number of samples")
    sample.add_argument("--precision", default="auto", choices=("fp32", "bf16", "auto"),
                        help="matrix multiplies in bf16 (state and logits stay fp32); auto: bf16 where the "
                        "hardware runs it fast")
    sample.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    add_runtime(sample)
    sample.add_argument("--label", help="line models conditioned on a label: the label to generate for")
    sample.add_argument("--novelty", nargs="+", metavar="DATA", help="line models: report the share of samples "
                        "that are training lines, other lines of DATA (held out), or new")
    sample.add_argument("--json", action="store_true", help="line models: one JSON object with the samples")
    sample.add_argument("--beam", type=int, default=0, help="language models: the likeliest continuations by a "
                        "beam of this width instead of samples (0: sample)")
    sample.add_argument("--n-best", type=int, default=1, help="with --beam: how many continuations to print")
    sample.add_argument("--diverse", type=int, default=1, metavar="G", help="with --beam: diverse beam search "
                        "in G groups (G divides --beam)")
    sample.add_argument("--diversity", type=float, default=1.0, help="with --diverse: nats a group's candidate "
                        "loses per earlier group that took the same token")


def _add_predict(commands) -> None:
    predict = commands.add_parser("predict", help="labels for texts (classifier), tags for words (tagger), "
                                  "translations (translator), or forecasts (forecaster)",
                                  formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    predict.add_argument("run", type=Path, help="run directory")
    predict.add_argument("texts", nargs="*", help="texts to label (a tagger: sentences, split at whitespace)")
    predict.add_argument("--file", type=Path, help="also label every line of this file (a tagger: also a CoNLL "
                         "file, by its .conll/.conllu suffix or tabs, whose words it tags)")
    predict.add_argument("--top-k", type=int, default=3, help="labels shown per text")
    predict.add_argument("--json", action="store_true", help="one JSON object per text")
    predict.add_argument("--data", help="forecaster: forecast past the end of this CSV (default: the run's series)")
    predict.add_argument("--steps", type=int, default=1, help="forecaster: steps to forecast past the end")
    predict.add_argument("--stream", action="store_true", help="forecaster: read one value (or TIME,VALUE) per "
                         "line on stdin and print the next-step forecast after each, the state carried")
    predict.add_argument("--show-attention", type=Path, metavar="PNG", help="translator: draw the first "
                         "sentence's attention (source x target) to this PNG")
    add_decoding(predict)
    predict.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))


def _add_eval(commands) -> None:
    evaluate = commands.add_parser("eval", help="score a run on data: bits per character, or accuracy and F1",
                                   formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    evaluate.add_argument("run", type=Path, help="run directory")
    evaluate.add_argument("data", nargs="*", help="data to score: text for a language model; labelled data for "
                          "a classifier, tagged sentences for a tagger (default: the run's held-out test split)")
    evaluate.add_argument("--confusion", type=Path, help="classifier, tagger: where to write the confusion-matrix PNG "
                          "(default: confusion-DATA.png in the run)")
    evaluate.add_argument("--plot", type=Path, help="forecaster: where to write the test-period PNG "
                          "(default: forecast-test.png in the run)")
    evaluate.add_argument("--encoding", default="utf-8", help="text encoding of the files")
    evaluate.add_argument("--streams", type=int, default=16, help="parallel streams (each starts from zero)")
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")
    evaluate.add_argument("--source", help="translator: a file of source sentences, aligned with --target")
    evaluate.add_argument("--target", help="translator: the reference translations, one per line")
    add_decoding(evaluate)
    evaluate.add_argument("--precision", default="fp32", choices=("fp32", "bf16", "auto"),
                          help="arithmetic for the forward pass")
    evaluate.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    add_runtime(evaluate)


def _add_report_and_viz(commands) -> None:
    report = commands.add_parser("report", help="an HTML training report of a run: curves, validations, samples",
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    report.add_argument("run", type=Path, help="run directory")
    report.add_argument("--out", type=Path, help="the HTML file (default: report.html in the run); the PNGs go "
                        "beside it")

    viz = commands.add_parser("viz", help="a page of text coloured by each neuron, with the model's next-token "
                              "guesses; neuron finder; gate saturation",
                              formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    viz.add_argument("run", type=Path, help="a language-model run directory")
    viz.add_argument("data", nargs="+", help="text to read: files, folders or a built-in corpus name")
    viz.add_argument("--out", type=Path, help="the HTML file (default: neurons.html in the run); the gate "
                     "saturation PNG goes beside it")
    viz.add_argument("--find", action="store_true", help="print the neurons that best track simple text features")
    viz.add_argument("--top", type=int, default=3, help="neurons listed per feature")
    viz.add_argument("--max-chars", type=int, default=100_000, help="read at most this many characters")
    viz.add_argument("--max-neurons", type=int, default=0, help="neurons on the page (0: all that fit in "
                     "16 million values)")
    viz.add_argument("--encoding", default="utf-8", help="text encoding of the files")
    viz.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                     help="show a progress bar (default: when stderr is a terminal)")
    viz.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))


def _add_export(commands) -> None:
    export = commands.add_parser("export", help="a trained run as ONNX graphs for any runtime",
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                                 description="Write a language model's stepper (step.onnx), its sequence scorer "
                                 "(score.onnx) and model.json (vocabulary, state names and shapes).")
    export.add_argument("run", type=Path, help="run directory")
    export.add_argument("--format", default="onnx", choices=("onnx",))
    export.add_argument("--out", help="folder to write (default: RUN/onnx)")


def _add_serve(commands) -> None:
    serve = commands.add_parser("serve", help="an HTTP API and web playground over trained runs",
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                                description="Serve runs over HTTP: /v1/models, /v1/models/NAME/VERB, the playground "
                                "at /, the spec at /openapi.json. A run is named by its folder's name, or NAME=PATH.")
    serve.add_argument("runs", nargs="+", metavar="RUN", help="run directories (or NAME=PATH)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on; any other than loopback needs "
                       "--token")
    serve.add_argument("--port", type=int, default=8000, help="port (0: any free one, printed at start)")
    serve.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    serve.add_argument("--precision", default="auto", choices=("fp32", "bf16", "auto"),
                       help="generation's matrix multiplies, as rnnkit sample's; scores are fp32")
    serve.add_argument("--token", help="require `Authorization: Bearer TOKEN` on every path but /health "
                       "(default: $RNNKIT_TOKEN)")
    serve.add_argument("--max-batch", type=int, default=32, help="generation streams stepped together per model")
    serve.add_argument("--max-waiting", type=int, default=64, help="streams that wait for a row; past them, 503")
    serve.add_argument("--max-length", type=int, default=4000, help="most tokens one request may generate")
    serve.add_argument("--max-n", type=int, default=16, help="most samples one request may ask for")
    serve.add_argument("--threads", type=int, default=0, help="torch threads for the models (0: every core but "
                       "one, which the event loop gets)")
    serve.add_argument("--grace", type=float, default=10.0, help="seconds requests in flight get to finish on "
                       "SIGTERM or Ctrl-C")
    serve.add_argument("--log-level", default="warning", choices=("debug", "info", "warning", "error"))
    add_runtime(serve)


def _add_others(commands) -> None:
    commands.add_parser("corpora", help="list the built-in corpora and their sizes")

    cache = commands.add_parser("cache", help="what rnnkit measures once per machine (the backend timings of "
                                "--backend auto, the batch-invariant product ways of sampling): show or clear")
    cache.add_argument("action", choices=("show", "clear"), help="show: one line per timed shape or product; "
                       "clear: delete them, so the next run measures again")

    experiment = commands.add_parser("experiment", help="reproduce a classic result: vanishing, memory, "
                                     "clipping, depth, cells, ngram-vs-rnn",
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    experiment.add_argument("name", choices=("vanishing", "memory", "clipping", "depth", "cells", "ngram-vs-rnn",
                                             "translation"))
    experiment.add_argument("data", nargs="*", help="text for the language-model ones (default: python-stdlib); "
                            "a TSV of sentence pairs for translation")
    experiment.add_argument("--reverse-pairs", action="store_true", help="translation: translate the TSV's second "
                            "column into its first")
    experiment.add_argument("--quick", action="store_true", help="a small, fast version")
    experiment.add_argument("--out", type=Path, default=Path("experiments"), help="folder for NAME.json and NAME.png")
    experiment.add_argument("--minutes", type=float, help="ngram-vs-rnn: the RNN's training time; translation: "
                            "each model's (defaults: ngram-vs-rnn 5, translation 3; with --quick 0.15 and 0.1)")


def add_decoding(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--beam", type=int, default=1, help="translator: beam size (1: greedy)")
    parser.add_argument("--alpha", type=float, default=None, help="translator: length normalisation, GNMT's "
                        "((5 + length) / 6) ** alpha (0: plain log-probability; default: the value the run chose "
                        "on its validation pairs for a beam, 0 for greedy)")
    parser.add_argument("--n-best", type=int, default=1, help="translator: translations shown per sentence")
    parser.add_argument("--max-length", type=int, default=0, help="translator: at most this many tokens per "
                        "translation (0: twice the source's plus 10)")




def add_runtime(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runtime", default="torch", choices=("torch", "onnx"), help="language models: run on "
                        "PyTorch, or on ONNX Runtime (the graphs of `rnnkit export`, written to RUN/onnx on first use)")
    parser.add_argument("--quantize", default="none", choices=("none", "int8"), help="language models: int8 "
                        "weights (PyTorch's or ONNX Runtime's dynamic quantization); CPU, fp32 activations")
