"""Line-model runs: ``rnnkit train lines`` (``--condition-on label`` for one per label), then ``sample`` and ``eval``.

A run directory holds config.json (task "lines"), tokenizer.json, the weights and
its split as train/val/test.jsonl: the novelty report needs to know exactly which
lines the model trained on.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np
import torch

from rnnkit.config import from_dict
from rnnkit.data.labelled import Example, LabelledConfig, class_counts, label_ids, load_labelled, read_examples
from rnnkit.data.tokenizers import Tokenizer, encode_texts, normalize
from rnnkit.decode.sampling import generate_lines
from rnnkit.errors import UserError
from rnnkit.eval.results import TextScores
from rnnkit.eval.scores import scores
from rnnkit.tasks.interface import Run, loader
from rnnkit.tasks.lines.model import LineConfig, LineModel
from rnnkit.tasks.lines.task import LineTask, line_nats
from rnnkit.tasks.requests import Sampling
from rnnkit.tasks.runs import (
    read_split,
    reopen,
    resolve_device,
    resumed_loop,
    run_tokenizer,
    saved_precision,
    settle_labelled,
    start_split_run,
)
from rnnkit.tasks.sections import DataConfig, ModelConfig
from rnnkit.train import checkpoint
from rnnkit.train.loop import TrainConfig, TrainLoop
from rnnkit.train.precision import autocast, resolve_precision


@dataclasses.dataclass
class LoadedLines(Run):
    tokenizer: Tokenizer
    labels: list[str]
    model: LineModel


def encode(tokenizer: Tokenizer, labels: list[str], examples: list[Example], source: str,
           ) -> tuple[list[np.ndarray], np.ndarray | None]:
    sequences = encode_texts(tokenizer, [t for t, _ in examples])
    if not labels:
        return sequences, None
    return sequences, label_ids(examples, labels, source)


def line_chars(examples: list[Example]) -> int:
    """Characters scored: each line's, plus one for its end (the newline)."""
    return sum(len(t) + 1 for t, _ in examples)


def build(tokenizer: Tokenizer, config: dict, device: torch.device) -> LineModel:
    labels = config["labels"]
    return LineModel(tokenizer.vocab_size + 1, len(labels), from_dict(ModelConfig, config["model"]),
                     from_dict(LineConfig, config["line"])).to(device)


def make_task(model: LineModel, tokenizer: Tokenizer, splits: dict[str, list[Example]], config: dict,
              device: torch.device) -> LineTask:
    labels = config["labels"]
    train = encode(tokenizer, labels, splits["train"], "training lines")
    val = encode(tokenizer, labels, splits["val"], "validation lines")
    seed = from_dict(TrainConfig, config["train"]).seed
    return LineTask(model, tokenizer, train, val, line_chars(splits["val"]), labels,
                    config["data"]["batch_size"], seed, device, saved_precision(config))


def train(sources: list[str], model_config: ModelConfig, line: LineConfig, train_config: TrainConfig,
          data: DataConfig, labelled: LabelledConfig, out: str | None, device_name: str,
          show_progress: bool | None = None, stop_at: int | None = None,
          given: set[str] | None = None) -> tuple[Path, dict]:
    """A new line-model run; with ``given``, unset fields may be chosen from the data (``text_choices``)."""
    device = resolve_device(device_name)
    conditioned = line.condition_on == "label"
    splits, origin = load_labelled(sources, labelled, data.encoding, train_config.seed, labelled=conditioned)
    labels = sorted(class_counts(splits["train"])) if conditioned else []
    choices, model_config, data, train_config, tokenizer = settle_labelled(
        splits["train"], given, model_config, data, train_config, device)
    precision = train_config.precision
    run, config = start_split_run("lines", sources, out, splits, origin, tokenizer, labels,
                                  [c.to_dict() for c in choices],
                                  model=model_config, line=line, train=train_config, data=data, labelled=labelled)
    torch.manual_seed(train_config.seed)
    model = build(tokenizer, config, device)
    print(f"run {run}: {len(splits['train']):,} training, {len(splits['val']):,} validation and "
          f"{len(splits['test']):,} test lines ({origin}); vocabulary {tokenizer.vocab_size} and the line "
          f"boundary{f', {len(labels)} labels' if labels else ''}; {sum(p.numel() for p in model.parameters()):,} "
          f"parameters, {model_config.num_layers}x{model_config.hidden_size} {model_config.cell} on {device}, "
          f"{precision}", file=sys.stderr)
    task = make_task(model, tokenizer, splits, config, device)
    return run, TrainLoop(model, task, train_config, run, show_progress).fit(stop_at=stop_at)


def resume(run: Path, overrides: dict, device_name: str, show_progress: bool | None = None,
           stop_at: int | None = None) -> tuple[Path, dict]:
    config, train_config, tokenizer, splits = reopen(run, overrides)
    device = resolve_device(device_name)
    model = build(tokenizer, config, device)
    task = make_task(model, tokenizer, splits, config, device)
    return run, resumed_loop(run, model, task, train_config, config, device, show_progress).fit(stop_at=stop_at)


@loader("lines", "a line model")
def load(run: Path, device_name: str = "cpu", weights: str = checkpoint.BEST) -> LoadedLines:
    config = checkpoint.read_config(run)
    tokenizer = run_tokenizer(run)
    model = build(tokenizer, config, torch.device("cpu"))
    device = resolve_device(device_name)
    checkpoint.load_weights(run / weights, model, device)
    return LoadedLines(run, config, tokenizer, config["labels"], model.to(device).eval())


def sample(loaded: LoadedLines, num: int, label: str | None, sampling: Sampling) -> list[str]:
    """``num`` whole lines of at most ``sampling.length`` tokens, each starting with its prime; a
    conditioned model needs ``label``."""
    labels, prime = None, sampling.prime
    if loaded.labels:
        if label is None:
            raise UserError(f"{loaded.run}: the model is conditioned on a label; pass --label, one of "
                            f"{', '.join(loaded.labels)}")
        if label not in loaded.labels:
            raise UserError(f"--label {label}: not one of the run's labels ({', '.join(loaded.labels)})")
        labels = torch.full((num,), loaded.labels.index(label), device=loaded.device)
    elif label is not None:
        raise UserError(f"--label: {loaded.run} was trained without labels; drop --label")
    missing = loaded.tokenizer.unknown(prime)
    if missing:
        raise UserError(f"--prime: {', '.join(map(repr, missing[:8]))} never appeared in {loaded.run}'s "
                        "training lines; remove them")
    prime = normalize(prime)
    prime_ids = encode_texts(loaded.tokenizer, [prime])[0] if prime else np.zeros(0, dtype=np.int64)
    start = torch.as_tensor(np.concatenate([[loaded.model.boundary], prime_ids]), device=loaded.device)
    generator = torch.Generator(device=loaded.device).manual_seed(sampling.seed)
    lines = generate_lines(loaded.model.conditioned(labels), start[None].expand(num, -1), sampling.length,
                           loaded.model.boundary, sampling.temperature, sampling.top_k, sampling.top_p, generator)
    decoded = [loaded.tokenizer.decode(np.concatenate([prime_ids, line]).astype(np.int64)) for line in lines]
    return [text.strip() if loaded.tokenizer.kind != "char" else text for text in decoded]


def read_lines(loaded: LoadedLines, sources: list[str], encoding: str) -> list[Example]:
    labelled = from_dict(LabelledConfig, loaded.config["labelled"])
    return [e for s in sources for e in read_examples(Path(s), labelled, encoding, labelled=bool(loaded.labels))]


def evaluate(loaded: LoadedLines, examples: list[Example], source: str, precision: str = "fp32") -> TextScores:
    """Nats per token (each line's tokens and its end) and bits per character (a newline per line)."""
    if not examples:
        raise UserError(f"{source}: no lines to score")
    sequences, labels = encode(loaded.tokenizer, loaded.labels, examples, source)
    with autocast(loaded.device, resolve_precision(precision, loaded.device)):
        total, tokens = line_nats(loaded.model, sequences, labels, loaded.device)
    return TextScores.of(scores(total, tokens, line_chars(examples)), lines=len(examples),
                         unknown_tokens=int(sum((s == 0).sum() for s in sequences)))


def novelty(loaded: LoadedLines, samples: list[str], data: list[Example]) -> dict:
    """Shares of samples that are training lines, other lines of ``data`` (held out), or new."""
    training = {t for t, _ in read_split(loaded.run, "train")}
    held_out = {t for t, _ in data} - training
    in_training = sum(s in training for s in samples)
    in_held_out = sum(s in held_out for s in samples)
    total = max(len(samples), 1)
    return {"samples": len(samples), "in_training": in_training / total, "in_held_out": in_held_out / total,
            "new": (len(samples) - in_training - in_held_out) / total}
