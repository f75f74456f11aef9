"""Language-model runs end to end: train, resume, sample and evaluate from a run directory."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from rnnkit.config import from_dict, to_dict
from rnnkit.data.batching import check_fits, compact_ids
from rnnkit.data.corpora import read_corpus
from rnnkit.data.split import split_corpus, start_text_of
from rnnkit.data.tokenizers import Tokenizer, decode_stream, fit_tokenizer, normalize
from rnnkit.decode.sampling import generate
from rnnkit.errors import UserError
from rnnkit.eval.perplexity import stream_nats
from rnnkit.eval.results import TextScores
from rnnkit.eval.scores import scores
from rnnkit.nn.backends import Shape, choose_backend
from rnnkit.tasks.choices import Choice, explain, explain_grouped
from rnnkit.tasks.interface import Run, loader
from rnnkit.tasks.lm.corpus import corpus_in_new_run
from rnnkit.tasks.lm.model import LanguageModel
from rnnkit.tasks.lm.task import LanguageModelTask, streams_of
from rnnkit.tasks.requests import Sampling
from rnnkit.tasks.runs import new_run_dir, resolve_device, resumed_loop, run_header, run_tokenizer, saved_precision
from rnnkit.tasks.sections import DataConfig, ModelConfig, decode_errors_of
from rnnkit.train import checkpoint, distributed
from rnnkit.train.loop import TrainConfig, TrainLoop
from rnnkit.train.precision import autocast, resolve_precision


@dataclasses.dataclass
class LoadedRun(Run):
    tokenizer: Tokenizer
    model: LanguageModel


def prepare_data(sources: list[str], data: DataConfig) -> tuple[Tokenizer, np.ndarray, np.ndarray, str]:
    """Read, split by position, fit the tokenizer on the training part, encode both parts."""
    train_text, val_text = split_corpus(sources, data.encoding, data.max_chars, data.val_fraction,
                                         data.decode_errors())
    name = ", ".join(sources)
    tokenizer = fit_tokenizer(data.tokenizer, train_text, data.vocab_size)
    train_ids = compact_ids(tokenizer.encode(train_text), tokenizer.vocab_size)
    val_ids = compact_ids(tokenizer.encode(val_text), tokenizer.vocab_size)
    check_fits(len(train_ids), data.batch_size, data.seq_len, name)
    if len(val_ids) < 2:
        raise UserError(f"{name}: the validation part has under 2 tokens; raise --val-fraction")
    return tokenizer, train_ids, val_ids, start_text_of(train_text)


def write_run_header(run: Path, sources: list[str], tokenizer: Tokenizer, start_text: str,
                     model_config: ModelConfig, train_config: TrainConfig, data: DataConfig, **extra) -> None:
    """config.json and tokenizer.json: what a run needs to rebuild its model, written before training."""
    config = run_header("lm", sources, start_text=start_text, vocab_size=tokenizer.vocab_size,
                        model=to_dict(model_config), train=to_dict(train_config), data=to_dict(data), **extra)
    checkpoint.write_json(run / checkpoint.CONFIG, config)
    checkpoint.write_json(run / checkpoint.TOKENIZER, tokenizer.to_dict())


def train(sources: list[str], model_config: ModelConfig, train_config: TrainConfig, data: DataConfig,
          out: str | None, device_name: str, show_progress: bool | None = None,
          stop_at: int | None = None, use_cache: bool = True, auto: list[Choice] | None = None,
          ) -> tuple[Path, dict]:
    """A new run: returns its directory and the final validation scores.

    ``stop_at`` ends it early at that step with a checkpoint, as Ctrl-C would; ``use_cache``
    False makes ``--backend auto`` time the backends again (``--no-cache``); ``auto`` lists the
    defaults chosen for the user (``commands.budget_defaults``), saved in config.json.
    """
    device = resolve_device(device_name)
    streams_of(distributed.current(), data.batch_size)  # a batch the ranks cannot share: refused before any work
    if distributed.current().leader:
        run, tokenizer, train_ids, val_ids, start_text = corpus_in_new_run(sources, data, out, show_progress)
        for line in explain_grouped(auto or []):
            print(line, file=sys.stderr)
        precision = resolve_precision(train_config.precision, device)
        train_config = dataclasses.replace(train_config, precision=precision)  # saved resolved, once
        model_config, backend_choice = resolve_backend(model_config, data, train_config, device, precision,
                                                       use_cache)
        write_run_header(run, sources, tokenizer, start_text, model_config, train_config, data,
                         backend_choice=backend_choice, auto=[choice.to_dict() for choice in auto or []])
        distributed.current().barrier()
    else:
        run, tokenizer, train_ids, val_ids, start_text, model_config, train_config = leaders_run(out, sources)
    torch.manual_seed(train_config.seed)
    model = LanguageModel(tokenizer.vocab_size, model_config).to(device)
    print(f"run {run}: {len(train_ids):,} training and {len(val_ids):,} validation tokens, "
          f"vocabulary {tokenizer.vocab_size}, {sum(p.numel() for p in model.parameters()):,} parameters, "
          f"{model_config.num_layers}x{model_config.hidden_size} {model_config.cell} on {device}, "
          f"{train_config.precision}, {model_config.backend} backend", file=sys.stderr)
    task = LanguageModelTask(model, tokenizer, train_ids, val_ids, data, start_text, device,
                             train_config.sample_length, train_config.precision, train_config.seed)
    loop = TrainLoop(model, task, train_config, run, show_progress)
    return run, loop.fit(stop_at=stop_at)


def leaders_run(out: str | None, sources: list[str]) -> tuple:
    """A follower rank's view of the run the leader is preparing: once its header is written, the
    corpus, tokenizer and settings (backend and precision resolved) as the leader saved them."""
    run = new_run_dir(out, sources)
    distributed.current().barrier()
    config = checkpoint.read_config(run)
    train_ids, val_ids = (checkpoint.load_ids(run / name) for name in (checkpoint.TRAIN_IDS, checkpoint.VAL_IDS))
    return (run, run_tokenizer(run), train_ids, val_ids, config["start_text"],
            from_dict(ModelConfig, config["model"]), from_dict(TrainConfig, config["train"]))


def resolve_backend(model_config: ModelConfig, data: DataConfig, train_config: TrainConfig,
                    device: torch.device, precision: str, use_cache: bool = True) -> tuple[ModelConfig, dict]:
    """``--backend auto`` made concrete by timing this shape (cached), so the run records what ran."""
    if model_config.backend != "auto":
        return model_config, {"reason": "chosen by the user"}
    if model_config.cell == "gru" and model_config.reset != "after":
        return dataclasses.replace(model_config, backend="eager"), {"reason": "only eager runs reset='before'"}
    shape = Shape(model_config.cell, model_config.embedding_size or model_config.hidden_size,
                  model_config.hidden_size, model_config.num_layers, False, data.batch_size, data.seq_len,
                  precision, str(device), model_config.weight_drop, model_config.locked_dropout)
    backend, why = choose_backend(shape, train_config.minutes, train_config.steps,
                                  log=lambda line: print(line, file=sys.stderr), use_cache=use_cache)
    reason = why.get("reason") or ", ".join(f"{kind} {t['step_s'] * 1e3:.1f} ms a step"
                                            for kind, t in why["timings"].items()) + " on this shape"
    print(explain(Choice("backend", backend, reason)), file=sys.stderr)
    return dataclasses.replace(model_config, backend=backend), why


def resume(run: Path, overrides: dict, device_name: str, show_progress: bool | None = None,
           stop_at: int | None = None) -> tuple[Path, dict]:
    """Continue a run exactly where its last checkpoint left it; ``overrides`` may change budgets."""
    config = checkpoint.read_config(run)
    device = resolve_device(device_name)
    data = from_dict(DataConfig, {"state_reset": 0.0, **config["data"]})  # runs from before it existed: none
    train_config = dataclasses.replace(from_dict(TrainConfig, config["train"]), **overrides)
    tokenizer = run_tokenizer(run)
    train_ids, val_ids = (checkpoint.load_ids(run / name) for name in (checkpoint.TRAIN_IDS, checkpoint.VAL_IDS))
    start_text = config["start_text"]
    model = LanguageModel(tokenizer.vocab_size, from_dict(ModelConfig, config["model"])).to(device)
    config["train"] = to_dict(train_config)
    task = LanguageModelTask(model, tokenizer, train_ids, val_ids, data, start_text, device,
                             train_config.sample_length, saved_precision(config), train_config.seed)
    loop = resumed_loop(run, model, task, train_config, config, device, show_progress)
    return run, loop.fit(stop_at=stop_at)


@loader("lm", "a language model")
def load(run: Path, device_name: str = "cpu", weights: str = checkpoint.BEST) -> LoadedRun:
    """A trained model and its tokenizer, for sampling and evaluation."""
    config = checkpoint.read_config(run)
    device = resolve_device(device_name)
    tokenizer = run_tokenizer(run)
    model = LanguageModel(tokenizer.vocab_size, from_dict(ModelConfig, config["model"]))
    checkpoint.load_weights(run / weights, model, device)
    return LoadedRun(run, config, tokenizer, model.to(device).eval())


def prime_ids(loaded: LoadedRun, prime: str, field: str = "--prime") -> np.ndarray:
    """The prime's ids (the run's start text when empty); characters it never saw are refused,
    naming ``field`` (a flag, or a request's field)."""
    missing = loaded.tokenizer.unknown(prime)
    if missing:
        shown = ", ".join(repr(c) for c in missing[:8])
        raise UserError(f"{field}: {shown} never appeared in this model's training text; "
                        "remove them or train on text that has them")
    return loaded.tokenizer.encode(prime or loaded.config["start_text"])


def sample(loaded: LoadedRun, sampling: Sampling, precision: str = "fp32") -> Iterator[str]:
    """Yield decoded pieces of text as they are generated, prime first."""
    prime, tokenizer = sampling.prime, loaded.tokenizer
    ids = prime_ids(loaded, prime)
    device = next(loaded.model.parameters()).device
    generator = torch.Generator(device=device).manual_seed(sampling.seed)
    if prime:
        yield normalize(prime)
    tokens = generate(loaded.model, torch.as_tensor(ids, device=device)[None], sampling.length,
                      sampling.temperature, sampling.top_k, sampling.top_p, generator,
                      resolve_precision(precision, device))
    yield from decode_stream(tokenizer, (int(t) for t in tokens))


def beam(loaded: LoadedRun, request) -> list[tuple[str, float]]:
    """``(prime + continuation, log-probability)`` for the beam's ``n_best`` continuations."""
    from rnnkit.decode.lm_beam import beam_search

    prime = request.prime
    if loaded.model.recurrent.bidirectional:
        raise UserError(f"{loaded.run}: a bidirectional model cannot generate; --beam needs a one-directional one")
    ids = torch.as_tensor(prime_ids(loaded, prime), device=loaded.device)
    found = beam_search(loaded.model, ids, request.length, request.beam, request.n_best, request.diverse,
                        request.diversity)
    shown = normalize(prime) if prime else ""
    return [(shown + loaded.tokenizer.decode(c.tokens), c.log_prob) for c in found]


def evaluate(loaded: LoadedRun, sources: list[str], encoding: str, streams: int, seq_len: int,
             precision: str = "fp32") -> TextScores:
    """Scores over a text: nats, bits and perplexity per token and per character."""
    text = read_corpus(sources, encoding, errors=decode_errors_of(loaded.config))
    ids = loaded.tokenizer.encode(text)
    if len(ids) < 2:
        raise UserError(f"{', '.join(sources)}: needs at least 2 tokens to score; give a longer text")
    device = next(loaded.model.parameters()).device
    with autocast(device, resolve_precision(precision, device)):
        total, tokens = stream_nats(loaded.model, ids, streams, seq_len, device)
    characters = loaded.tokenizer.token_chars(ids[1:])
    return TextScores.of(scores(total, tokens, characters), unknown_tokens=int((ids == 0).sum()))
