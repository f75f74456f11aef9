"""The language model's commands: train (with its budget-dependent defaults), resume, sample, eval, viz."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

from rnnkit.errors import UserError
from rnnkit.eval.results import TextScores, finite
from rnnkit.tasks.choices import Choice, apply
from rnnkit.tasks.requests import EvalRequest, SampleRequest, Sampling, TrainRequest, VizRequest


def budget_defaults(request: TrainRequest) -> list[Choice]:
    """The defaults that depend on the rest of the config, applied to ``request``; returns what it chose.

    A vanilla RNN trains at its own learning rate (``CELL_LEARNING_RATE``); the width and the
    regularisers follow the budget and the passes it makes over the corpus on this machine (``budget``'s
    tables, ``pace``'s probe). A flag the user
    gave always wins; the NumPy reference keeps its own defaults."""
    from rnnkit.data.streaming import StreamedCorpus
    from rnnkit.tasks.lm.budget import regulariser_choices, width_choices
    from rnnkit.tasks.lm.pace import measured_pace
    from rnnkit.tasks.sections import CELL_LEARNING_RATE

    model, train, data = (request.sections[k] for k in ("model", "train", "data"))
    if model.backend == "numpy":
        return []
    chosen = []
    if "lr" not in request.given and model.cell in CELL_LEARNING_RATE:
        chosen.append(Choice("lr", CELL_LEARNING_RATE[model.cell], f"--cell {model.cell}"))
    if train.minutes > 0:
        chars = StreamedCorpus.open(request.data, data.encoding, data.max_chars or None, data.decode_errors()).chars
        chosen += width_choices(train.minutes, request.given)
        model, train = apply(chosen, model, train)
        pace = measured_pace(model, data, train.precision, request.device)
        chosen += regulariser_choices(train.minutes, chars, pace, request.given)
    request.sections["model"], request.sections["train"] = apply(chosen, model, train)
    return chosen


def train(request: TrainRequest) -> int:
    """A new language-model run; ``--backend numpy`` trains it with the NumPy reference instead."""
    from rnnkit.tasks.lm import run as lm_run

    chosen = budget_defaults(request)  # printed by the run once its data is read (a bad file: one line)
    model, train_config, data = (request.sections[k] for k in ("model", "train", "data"))
    if model.backend == "numpy":
        from rnnkit.tasks.lm.numpy_trainer import train_numpy

        run, final = train_numpy(request.data, model, train_config, data, request.out)
    else:
        run, final = lm_run.train(request.data, model, train_config, data, request.out, request.device,
                                  request.progress, use_cache=request.use_cache,
                                  auto=chosen)
    return summary(run, final, request.device)


def summary(run: Path, final: dict, device: str) -> int:
    from rnnkit.tasks.lm import run as lm_run

    loaded = lm_run.load(run, device)
    print(f"\nstep {final['step']}: validation {final['bits_per_char']:.3f} bits per character "
          f"({final['nats_per_char']:.3f} nats); best weights in {run / 'model.safetensors'}")
    print("sample:\n" + "".join(lm_run.sample(loaded, Sampling(length=400, temperature=0.8))))
    return 0


def print_samples(request: SampleRequest, loaded, sample) -> int:
    """``sample(loaded, sampling)`` streamed to stdout, ``num`` times, the seed one more each time."""
    if request.label or request.novelty:
        raise UserError(f"--label and --novelty need a line model; {request.run} models a stream of text")
    if request.beam:
        raise UserError(f"--beam searches recurrent language models; {request.run} is counted, not trained: "
                        "drop --beam")
    for index in range(request.num):
        if request.num > 1:
            print(f"--- sample {index + 1} ---")
        for piece in sample(loaded, dataclasses.replace(request, seed=request.seed + index)):
            sys.stdout.write(piece)
            sys.stdout.flush()
        print()
    return 0


def sample(request: SampleRequest) -> int:
    from rnnkit.tasks.lm import run as lm_run
    from rnnkit.tasks.lm.runtimes import on_runtime, on_torch

    loaded = on_runtime(lm_run.load(request.run, request.device), request.runtime, request.quantize)
    if request.beam:
        return print_beam(request, loaded)
    precision = request.precision if on_torch(request) else "fp32"  # int8 and ONNX Runtime: fp32 activations
    return print_samples(request, loaded, lambda loaded, sampling: lm_run.sample(loaded, sampling, precision))


def print_beam(request: SampleRequest, loaded) -> int:
    """``--beam K``: the ``--n-best`` likeliest continuations, each with its log-probability."""
    from rnnkit.tasks.lm import run as lm_run

    if request.beam < 1 or not 1 <= request.n_best <= request.beam or request.diverse < 1 \
            or request.beam % request.diverse or request.length < 1 or request.diversity < 0:
        raise UserError("--beam needs 1 or more, --n-best between 1 and --beam, --diverse a divisor of --beam, "
                        "--length 1 or more, --diversity 0 or more")
    if request.num != 1:
        raise UserError("--num draws samples; with --beam, ask for more continuations with --n-best")
    for rank, (text, log_prob) in enumerate(lm_run.beam(loaded, request), start=1):
        if request.json:
            print(json.dumps({"rank": rank, "text": text, "log_prob": round(log_prob, 4)}, ensure_ascii=False))
        else:
            print(f"--- {rank}: log p {log_prob:.3f} ---\n{text}")
    return 0


def evaluate(request: EvalRequest) -> int:
    from rnnkit.tasks.lm import run as lm_run

    if not request.data:
        raise UserError("eval: pass the text to score after the run directory")
    from rnnkit.tasks.lm.runtimes import on_runtime, on_torch

    loaded = on_runtime(lm_run.load(request.run, request.device), request.runtime, request.quantize)
    result = lm_run.evaluate(loaded, request.data, request.encoding, request.streams,
                             loaded.config["data"]["seq_len"], request.precision if on_torch(request) else "fp32")
    return print_scores(request, result, loaded.config["data"]["tokenizer"])


def print_scores(request: EvalRequest, result: TextScores, tokenizer: str) -> int:
    """Bits per character and perplexity, as text or one JSON object (an infinite perplexity as null)."""
    if request.json:
        print(json.dumps(finite(result.to_dict())))
        return 0
    print(f"{', '.join(request.data)}: {result.tokens:,} tokens, {result.characters:,} characters")
    print(f"bits per character  {result.bits_per_char:.4f}  ({result.nats_per_char:.4f} nats)")
    print(f"perplexity          {result.perplexity:.3f} per token")
    if tokenizer not in ("char", "byte"):  # a byte model's characters are its tokens
        print(f"                    {result.char_perplexity:.3f} per character")
    if result.unknown_tokens:
        print(f"unknown tokens      {result.unknown_tokens:,} (scored as <unk>)")
    return 0


def viz(request: VizRequest) -> int:
    """The neuron page, and with ``find`` the neuron finder's table; gate saturation for gated cells."""
    from rnnkit.tasks.lm import reading as viz_run
    from rnnkit.tasks.lm import run as lm_run
    from rnnkit.viz.features import FEATURES
    from rnnkit.viz.finder import format_matches
    from rnnkit.viz.gates import format_saturation

    if request.max_chars < 2 or request.top < 1 or request.max_neurons < 0:
        raise UserError("viz: --max-chars needs at least 2, --top at least 1, --max-neurons 0 or more")
    loaded = lm_run.load(request.run, request.device)
    ids, pieces = viz_run.read_text(loaded, request.data, request.encoding, request.max_chars)
    progress = sys.stderr.isatty() if request.progress is None else request.progress
    reading = viz_run.read_model(loaded, ids, pieces, request.top, progress)
    written = viz_run.write_neuron_page(loaded, reading, request.data, request.out or request.run / "neurons.html",
                                        request.max_neurons)
    print(f"{written['html']}: {written['tokens']:,} tokens, {written['neurons']:,} of {written['of']:,} neurons, "
          f"{written['size'] / 1e6:.1f} MB")
    if request.find:
        print(format_matches(reading.matches, FEATURES))
    if reading.gates:
        print(f"gate saturation (share of values; {written['gates_png']}):\n{format_saturation(reading.gates)}")
    return 0
