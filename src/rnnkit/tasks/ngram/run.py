"""N-gram runs: ``rnnkit train ngram``, then ``eval`` and ``sample`` as on any run.

A run directory holds config.json (task "ngram"), tokenizer.json, the counts in
model.ngram (safetensors) and, with ``--arpa``, model.arpa. The split and the
tokenizer come from the same code as an RNN run's, so scores compare.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnnkit import __version__
from rnnkit.config import option, to_dict
from rnnkit.data.corpora import read_corpus
from rnnkit.data.split import split_corpus, start_text_of
from rnnkit.data.tokenizers import Tokenizer, decode_stream, fit_tokenizer, normalize
from rnnkit.errors import UserError
from rnnkit.eval.results import TextScores
from rnnkit.ngram import NGramLM, from_text
from rnnkit.ngram.arpa import token_names, write_arpa
from rnnkit.ngram.estimators import SMOOTHINGS
from rnnkit.ngram.stream import UNITS
from rnnkit.tasks.interface import Run, loader
from rnnkit.tasks.requests import Sampling
from rnnkit.tasks.sections import DataConfig, decode_errors_of
from rnnkit.train import checkpoint

MODEL_FILE = "model.ngram"
ARPA_FILE = "model.arpa"


@dataclass
class NGramConfig:
    """An n-gram model: its order, its estimator and what a sequence is."""

    order: int = option(5, "n-gram order")
    smoothing: str = option("kn", "n-gram estimator", SMOOTHINGS)
    delta: float = option(1.0, "add-delta's delta: 1 is Laplace")
    discount: float = option(0.0, "a fixed Kneser-Ney or backoff discount (0: estimate from the counts)")
    unit: str = option("stream", "stream: the text is one sequence, as an RNN reads it; line: each line "
                       "is <s> ... </s> (the recurrent model of lines is `rnnkit train lines`)", UNITS)
    arpa: bool = option(False, "also write the model as model.arpa")

    def build(self) -> NGramLM:
        try:
            return NGramLM(self.order, self.smoothing, self.delta, self.discount or None, self.unit)
        except ValueError as err:
            raise UserError(f"rnnkit train ngram: {err}") from None


@dataclass
class LoadedNGram(Run):
    tokenizer: Tokenizer
    model: NGramLM


def train(sources: list[str], config: NGramConfig, data: DataConfig, out: str | None) -> tuple[Path, dict]:
    """Count the training split, score the validation split; returns the run and its scores."""
    from rnnkit.tasks.runs import new_run_dir

    model = config.build()
    train_text, val_text = split_corpus(sources, data.encoding, data.max_chars, data.val_fraction,
                                         data.decode_errors())
    tokenizer = fit_tokenizer(data.tokenizer, train_text, data.vocab_size)
    started = time.perf_counter()
    model.fit(from_text(train_text, tokenizer, config.unit), tokenizer.vocab_size)
    fit_seconds = time.perf_counter() - started
    run = new_run_dir(out, sources)
    result = {**model.score(from_text(val_text, tokenizer, config.unit)), "fit_seconds": fit_seconds,
              "ngrams": [len(t.keys) for t in model.counts.tables]}
    if config.arpa and not model.backoff_form:
        raise UserError(f"--arpa: {config.smoothing} smoothing has no backoff form; ARPA files hold kn, "
                        "backoff or naive models")
    checkpoint.atomic_write(run / MODEL_FILE, model.save)
    if config.arpa:
        checkpoint.atomic_write(run / ARPA_FILE, lambda tmp: write_arpa(model, tmp, token_names(tokenizer,
                                                                                              config.unit)))
    checkpoint.write_json(run / checkpoint.TOKENIZER, tokenizer.to_dict())
    checkpoint.write_json(run / checkpoint.CONFIG, {
        "rnnkit_format": checkpoint.FORMAT, "rnnkit_version": __version__, "task": "ngram",
        "sources": [str(Path(s).resolve()) if Path(s).exists() else s for s in sources],
        "start_text": start_text_of(train_text), "vocab_size": model.vocab_size,
        "ngram": to_dict(config), "data": to_dict(data), "validation": result})
    print(f"run {run}: {config.order}-gram {config.smoothing} over {data.tokenizer} tokens ({config.unit}), "
          f"vocabulary {tokenizer.vocab_size}, {sum(result['ngrams']):,} n-grams counted in {fit_seconds:.1f}s",
          file=sys.stderr)
    return run, result


@loader("ngram", "an n-gram model")
def load(run: Path, device_name: str = "cpu") -> LoadedNGram:
    """Counts live on the CPU whatever the device."""
    from rnnkit.tasks.runs import run_tokenizer

    config = checkpoint.read_config(run)
    tokenizer = run_tokenizer(run)
    try:
        model = NGramLM.load(run / MODEL_FILE)
    except ValueError as err:
        raise UserError(f"{err}; train the run again") from None
    if model.tokenizer_size != tokenizer.vocab_size:
        raise UserError(f"{run}: {MODEL_FILE} and {checkpoint.TOKENIZER} disagree on the vocabulary; "
                        "the run is damaged, train it again")
    return LoadedNGram(run, config, tokenizer, model)


def evaluate(loaded: LoadedNGram, sources: list[str], encoding: str) -> TextScores:
    """``rnnkit eval``'s numbers for an n-gram run."""
    text = read_corpus(sources, encoding, errors=decode_errors_of(loaded.config))
    return score_text(loaded, text, ", ".join(sources))


def score_text(loaded: LoadedNGram, text: str, name: str) -> TextScores:
    """The scores of ``text`` (``name`` says where it came from in an error)."""
    stream = from_text(text, loaded.tokenizer, loaded.model.unit)
    scored = stream.ids[stream.scored]
    if len(scored) == 0:
        raise UserError(f"{name}: no token to score; give a longer text")
    tokenizer_ids = scored[scored < loaded.tokenizer.vocab_size]
    if len(tokenizer_ids) and not tokenizer_ids.any():
        raise UserError(f"{name}: every token is unknown to {loaded.run} (none appeared in its training "
                        "text); score text in the language and script it was trained on")
    return TextScores.of(loaded.model.score(stream))


def sample(loaded: LoadedNGram, sampling: Sampling) -> Iterator[str]:
    """Yield text as it is drawn, prime first; a line model writes each </s> as a newline."""
    prime, tokenizer, model = sampling.prime, loaded.tokenizer, loaded.model
    missing = tokenizer.unknown(prime)
    if missing:
        shown = ", ".join(repr(c) for c in missing[:8])
        raise UserError(f"--prime: {shown} never appeared in {loaded.run}'s training text; "
                        "remove them or train on text that has them")
    if model.unit == "line":
        history = [model.bos, *tokenizer.encode(prime.split("\n")[-1]).tolist()]
    else:
        history = tokenizer.encode(prime or loaded.config["start_text"]).tolist()
    if prime:
        yield normalize(prime)
    tokens = model.sample(np.array(history, dtype=np.int64), sampling.length, sampling.temperature,
                          sampling.top_k, sampling.top_p, np.random.default_rng(sampling.seed))
    yield from decode_stream(tokenizer, tokens, newline=model.eos)

