"""The n-gram model's commands: count (train), sample and eval, on the language model's conventions."""

from __future__ import annotations

from rnnkit.tasks.lm.commands import print_samples, print_scores
from rnnkit.tasks.requests import EvalRequest, SampleRequest, Sampling, TrainRequest


def train(request: TrainRequest) -> int:
    from rnnkit.tasks.ngram import run as ngram_run

    run, result = ngram_run.train(request.data, request.sections["ngram"], request.sections["data"], request.out)
    print(f"validation {result['bits_per_char']:.3f} bits per character ({result['nats_per_char']:.3f} nats), "
          f"perplexity {result['perplexity']:.3f} per token; model in {run / ngram_run.MODEL_FILE}")
    loaded = ngram_run.load(run)
    print("sample:\n" + "".join(ngram_run.sample(loaded, Sampling(length=400, temperature=0.8))))
    return 0


def sample(request: SampleRequest) -> int:
    from rnnkit.tasks.ngram import run as ngram_run

    return print_samples(request, ngram_run.load(request.run), ngram_run.sample)


def evaluate(request: EvalRequest) -> int:
    from rnnkit.errors import UserError
    from rnnkit.tasks.ngram import run as ngram_run

    if not request.data:
        raise UserError("eval: pass the text to score after the run directory")
    loaded = ngram_run.load(request.run)
    result = ngram_run.evaluate(loaded, request.data, request.encoding)
    return print_scores(request, result, loaded.config["data"]["tokenizer"])
