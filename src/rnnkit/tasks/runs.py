"""What every trained run shares: the device, a fresh run directory, the header, and exact resume."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import torch

from rnnkit import __version__
from rnnkit.config import from_dict, to_dict
from rnnkit.data.labelled import Example
from rnnkit.data.tokenizers import Tokenizer, fit_tokenizer, tokenizer_from_dict
from rnnkit.errors import UserError
from rnnkit.tasks.choices import Choice, apply, chosen_for
from rnnkit.tasks.interface import DAMAGE
from rnnkit.tasks.sections import DataConfig, ModelConfig
from rnnkit.train import checkpoint, generations
from rnnkit.train.loop import Task, TrainConfig, TrainLoop
from rnnkit.train.precision import resolve_precision

SPLITS = ("train", "val", "test")


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda: no CUDA GPU is visible; use --device cpu or auto")
    return torch.device(name)


def new_run_dir(out: str | None, sources: list[str]) -> Path:
    """``--out`` if given (refusing to overwrite a run), else runs/NAME, runs/NAME-2, ..."""
    if out:
        run = Path(out)
        if (run / checkpoint.CONFIG).exists():
            raise UserError(f"{run}: already holds a run; continue it with `rnnkit resume {run}` or pick a new --out")
    else:
        stem = Path(sources[0]).stem or "run"
        run, n = Path("runs") / stem, 2
        while run.exists():
            run, n = Path("runs") / f"{stem}-{n}", n + 1
    run.mkdir(parents=True, exist_ok=True)
    return run


def run_header(task: str, sources: list[str], **fields) -> dict:
    """The start of every config.json: format, version, task and where the data came from."""
    return {"rnnkit_format": checkpoint.FORMAT, "rnnkit_version": __version__, "task": task,
            "sources": [str(Path(s).resolve()) if Path(s).exists() else s for s in sources], **fields}


def settle_labelled(train_split: list[Example], given: set[str] | None, model_config: ModelConfig,
                    data: DataConfig, train_config: TrainConfig, device: torch.device,
                    ) -> tuple[list[Choice], ModelConfig, DataConfig, TrainConfig, Tokenizer]:
    """Before a labelled run starts: the automatic choices made and applied, the tokenizer fitted on
    the training split, and the precision resolved (saved once, in the train section)."""
    choices = chosen_for(train_split, given, data.tokenizer)
    model_config, data, train_config = apply(choices, model_config, data, train_config)
    tokenizer = fit_tokenizer(data.tokenizer, "\n".join(t for t, _ in train_split), data.vocab_size)
    precision = resolve_precision(train_config.precision, device)
    return choices, model_config, data, dataclasses.replace(train_config, precision=precision), tokenizer


def run_tokenizer(run: Path) -> Tokenizer:
    """The run's tokenizer.json as the tokenizer it describes."""
    return tokenizer_from_dict(checkpoint.read_json(run / checkpoint.TOKENIZER))


def saved_precision(config: dict) -> str:
    """The arithmetic a run trains in: its ``train.precision``, resolved when it started. Runs before
    0.3 kept the resolved value beside the sections, and ``auto`` in them."""
    if config.get("precision"):
        return config["precision"]
    chosen = config.get("train", {}).get("precision", "fp32")
    return "fp32" if chosen == "auto" else chosen


def resumed_loop(run: Path, model: torch.nn.Module, task: Task, train_config: TrainConfig, config: dict,
                 device: torch.device, show_progress: bool | None) -> TrainLoop:
    """A loop at the run's newest complete checkpoint: weights, optimizer, RNG and the task's carried
    state, with the logs cut back to it. A run from before generations is converted to one here."""
    with checkpoint.run_lock(run):  # refuse now, before the new budget is written over a live run's
        state, where = read_checkpoint(run, model, device)
        checkpoint.write_json(run / checkpoint.CONFIG, config)  # the new budget, for the next resume
        loop = TrainLoop(model, task, train_config, run, show_progress)
        try:
            loop.load_state_dict(state)
        except DAMAGE as err:
            raise UserError(f"{run}: the checkpoint in {where} is damaged ({err.__class__.__name__}); delete it "
                            "to resume from the one before, or train again") from None
        generations.rewind_logs(run, state)
        if where == checkpoint.STATE:
            loop.save()
            where += f", converted to {generations.latest(run).name}"
    print(f"run {run}: resuming at step {loop.step} (from {where})", file=sys.stderr)
    return loop


def read_checkpoint(run: Path, model: torch.nn.Module, device: torch.device) -> tuple[dict, str]:
    """The newest complete generation, or the single checkpoint of a run made before 0.3."""
    generation = generations.latest(run)
    if generation is not None:
        return generations.read(generation, model, device), generation.name
    if not (run / checkpoint.STATE).exists():
        raise UserError(f"{run}: no checkpoint yet (it stopped before its first); train it again")
    state = checkpoint.load_state(run / checkpoint.STATE)
    weights_step = checkpoint.load_weights(run / checkpoint.LAST, model, device)
    if weights_step != state["step"]:
        raise UserError(f"{run}: {checkpoint.LAST} (step {weights_step}) and {checkpoint.STATE} "
                        f"(step {state['step']}) disagree; the checkpoint is damaged, start a new run")
    return state, checkpoint.STATE


def write_split(run: Path, name: str, examples: list[Example], keys: tuple[str, str] = ("text", "label")) -> None:
    """One JSON object per example, its two parts under ``keys`` (pairs use source and target)."""
    lines = "".join(json.dumps(dict(zip(keys, e, strict=True)), ensure_ascii=False) + "\n" for e in examples)
    checkpoint.atomic_write(run / f"{name}.jsonl", lambda tmp: tmp.write_text(lines, encoding="utf-8"))


def read_split(run: Path, name: str, keys: tuple[str, str] = ("text", "label")) -> list[Example]:
    path = run / f"{name}.jsonl"
    try:
        return [(row[keys[0]], row[keys[1]]) for row in map(json.loads, path.read_text("utf-8").splitlines())]
    except FileNotFoundError:
        raise UserError(f"{path}: missing; the run is incomplete, train again") from None
    except (json.JSONDecodeError, KeyError, TypeError):
        raise UserError(f"{path}: corrupt; train again") from None


def start_split_run(task: str, sources: list[str], out: str | None, splits: dict[str, list[Example]], origin: str,
                    tokenizer: Tokenizer, labels: list[str], auto: list[dict] | None = None,
                    **sections) -> tuple[Path, dict]:
    """A new run of examples: its directory with the split, config.json and tokenizer.json written.

    ``sections`` are the run's config dataclasses (model, train, data...), saved as JSON.
    """
    run = new_run_dir(out, sources)
    for name in SPLITS:
        write_split(run, name, splits[name])
    config = run_header(task, sources, labels=labels, split=origin, auto=auto or [],
                        **{name: to_dict(section) for name, section in sections.items()})
    checkpoint.write_json(run / checkpoint.CONFIG, config)
    checkpoint.write_json(run / checkpoint.TOKENIZER, tokenizer.to_dict())
    return run, config


def reopen(run: Path, overrides: dict) -> tuple[dict, TrainConfig, Tokenizer, dict[str, list[Example]]]:
    """A stopped run's config (with the new budget), training settings, tokenizer and split."""
    config = checkpoint.read_config(run)
    train_config = dataclasses.replace(from_dict(TrainConfig, config["train"]), **overrides)
    config["train"] = to_dict(train_config)
    tokenizer = run_tokenizer(run)
    return config, train_config, tokenizer, {name: read_split(run, name) for name in SPLITS}
